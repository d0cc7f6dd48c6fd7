import { formatBytes, formatDuration, formatNumber, formatShape, formatValue, toNumber } from '../src/format';

describe('format', () => {
  it('decodes the non-finite floats the API sends as strings', () => {
    expect(toNumber('NaN')).toBeNaN();
    expect(toNumber('Infinity')).toBe(Infinity);
    expect(toNumber('-Infinity')).toBe(-Infinity);
    expect(toNumber(0.5)).toBe(0.5);
    expect(toNumber('0.5')).toBeNull();
    expect(toNumber(null)).toBeNull();
  });

  it('shows numbers with four significant digits and no noise', () => {
    expect(formatNumber(0.80000000001)).toBe('0.8');
    expect(formatNumber(12345.678)).toBe('12350');
    expect(formatNumber(42)).toBe('42');
    expect(formatNumber(0.00001234)).toBe('1.234e-5');
    expect(formatNumber(NaN)).toBe('NaN');
    expect(formatNumber(-Infinity)).toBe('-∞');
  });

  it('formats any API value as text', () => {
    expect(formatValue('Infinity')).toBe('∞');
    expect(formatValue(true)).toBe('true');
    expect(formatValue(null)).toBe('');
    expect(formatValue('rbf')).toBe('rbf');
    expect(formatValue([1, 2] as never)).toBe('[1,2]');
  });

  it('formats durations, sizes and shapes', () => {
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(3.14159)).toBe('3.14 s');
    expect(formatDuration(125)).toBe('2m 05s');
    expect(formatDuration(7260)).toBe('2h 01m');
    expect(formatDuration(null)).toBe('');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatShape([1000, 64])).toBe('1000×64');
    expect(formatShape(null)).toBe('');
  });
});
