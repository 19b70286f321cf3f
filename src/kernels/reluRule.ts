/**
 * How a backward kernel passes the incoming gradient dy back through its layer's ReLU (y: the layer's
 * post-ReLU output):
 * - 'plain': the true gradient, g = dy · [y > 0] (Grad-CAM, vanilla saliency, SmoothGrad, IG);
 * - 'guided': guided backpropagation (Springenberg et al. 2015), g = dy · [y > 0] · [dy > 0]: only
 *   positive gradient through units that were active;
 * - 'deconvnet': the deconvnet rule (Zeiler & Fergus 2014), g = dy · [dy > 0]: the ReLU applied to the
 *   gradient itself, whatever y was.
 * A layer without ReLU passes g = dy under every rule.
 */
export const RELU_RULES = ['plain', 'guided', 'deconvnet'] as const;

export type ReluRule = (typeof RELU_RULES)[number];

/**
 * The value of a shader's `override RELU_RULE: u32`. Every shader that takes it names the values
 * `const RELU_PLAIN / RELU_GUIDED / RELU_DECONVNET: u32` (test/kernel-sources.test.ts checks that they
 * are these).
 */
export const RELU_RULE_CODES: Readonly<Record<ReluRule, number>> = { plain: 0, guided: 1, deconvnet: 2 };

/** The RELU_RULE pipeline constant for a shape's optional rule ('plain' when absent). */
export const reluRuleConstant = (rule: ReluRule | undefined): number => RELU_RULE_CODES[rule ?? 'plain'];
