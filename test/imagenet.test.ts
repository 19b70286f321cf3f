// Class lookup as a person types it into the page: index, wnid, label in any case and spacing.
import { describe, expect, it } from 'vitest';
import { classSuggestions, findClass, IMAGENET_CLASS_INDEX, matchingClasses } from '../src/engine/imagenet.js';

describe('findClass', () => {
  it('accepts a label in any case with spaces or underscores, a wnid, an index, and the suggestion form', () => {
    for (const q of ['african elephant', 'African_elephant', ' AFRICAN  ELEPHANT ', 'african-elephant', 'n02504458', 'N02504458', '386', 'African_elephant (386)'])
      expect(findClass(q), q).toBe(386);
    expect(IMAGENET_CLASS_INDEX['386']).toEqual(['n02504458', 'African_elephant']);
  });

  it('refuses what is not one class: out of range, partial, empty', () => {
    for (const q of ['1000', '-1', 'elephant', '', 'n0250445', '3.5']) expect(findClass(q), q).toBeUndefined();
  });

  it('a label Keras lists twice names both classes, so it is not one class; its wnids and indices are', () => {
    expect(IMAGENET_CLASS_INDEX['134'][1]).toBe('crane');
    expect(IMAGENET_CLASS_INDEX['517'][1]).toBe('crane');
    expect(matchingClasses('Crane')).toEqual([134, 517]);
    expect(findClass('crane')).toBeUndefined();
    expect(findClass('n03126707')).toBe(517);
    expect(findClass('crane (517)')).toBe(517);
    expect(matchingClasses('maillot')).toEqual([638, 639]);
  });
});

describe('classSuggestions', () => {
  it('labels starting with the text first, then labels or wnids containing it', () => {
    const s = classSuggestions('eleph');
    expect(s).toEqual(expect.arrayContaining([385, 386]));
    expect(classSuggestions('african')[0]).toBe(classSuggestions('african').find((i) => IMAGENET_CLASS_INDEX[String(i)][1].toLowerCase().startsWith('african')));
    expect(classSuggestions('n025044')).toContain(386);
    expect(classSuggestions('')).toEqual([]);
    expect(classSuggestions('e', 7)).toHaveLength(7);
  });
});
