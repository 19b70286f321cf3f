// npm run kit [-- --out <dir>]: builds the device kit (scripts/lib/kitBuild.ts), a folder that runs the
// benchmark on a Linux x86-64 machine with a GPU driver and no npm or network: copy it there, run ./run.sh.
import { buildKit, sizeLines } from './lib/kitBuild.js';
import { parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm run kit -- [options]',
  summary:
    'Builds the device kit: this machine\'s Node and Dawn (compressed), the benchmark bundled into one script with\n' +
    'TF.js, the Vulkan loader and run.sh. Copy the folder to a Linux x86-64 GPU machine and run ./run.sh --quick\n' +
    '(or --check for the kernel test cases first); it needs no npm and no network there.',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    out: { type: 'string', value: '<dir>', default: 'dist/kit', help: 'the kit folder (replaced if it holds a previous kit)' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run kit --', SPEC);
  if (!parsed) return;
  const r = await buildKit({ outDir: parsed.values.out, log: (line) => process.stderr.write(`${line}\n`) });
  console.log(`built ${r.dir} in ${r.seconds.toFixed(1)} s${r.reused.length ? ` (reused ${r.reused.join(', ')} of the previous build)` : ''}:`);
  for (const line of sizeLines(r.manifest)) console.log(line);
  console.log(`copy it to the GPU machine (scp -r ${parsed.values.out} host: , or tar) and run ./run.sh --quick there; ./run.sh --help lists the flags`);
});
