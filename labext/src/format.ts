/** Formatting of values for display: numbers, durations, dates, ids. */

import type { FloatValue, JSONValue, ParamValue } from './types';

/** A metric value as a number (NaN and the infinities decoded), or null. */
export function toNumber(v: JSONValue | FloatValue | undefined): number | null {
  if (typeof v === 'number') {
    return v;
  }
  if (v === 'NaN') {
    return NaN;
  }
  if (v === 'Infinity') {
    return Infinity;
  }
  if (v === '-Infinity') {
    return -Infinity;
  }
  return null;
}

/** A number with up to `digits` significant digits, without trailing noise. */
export function formatNumber(v: number, digits = 4): string {
  if (Number.isNaN(v)) {
    return 'NaN';
  }
  if (!Number.isFinite(v)) {
    return v > 0 ? '∞' : '-∞';
  }
  if (Number.isInteger(v) && Math.abs(v) < 1e15) {
    return String(v);
  }
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) {
    return v.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  }
  return String(Number(v.toPrecision(digits)));
}

/** Any value from the API as display text. */
export function formatValue(v: JSONValue | ParamValue | FloatValue | undefined): string {
  if (v === undefined || v === null) {
    return '';
  }
  const n = toNumber(v as JSONValue);
  if (n !== null) {
    return formatNumber(n);
  }
  if (typeof v === 'boolean') {
    return v ? 'true' : 'false';
  }
  if (typeof v === 'string') {
    return v;
  }
  return JSON.stringify(v);
}

/** Seconds as `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const m = Math.floor(seconds / 60);
  if (m < 60) {
    return `${m}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  }
  const hh = Math.floor(m / 60);
  return `${hh}h ${String(m % 60).padStart(2, '0')}m`;
}

/** An ISO time as local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return iso;
  }
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `3 s ago`, `5 min ago`, `2 h ago`, else the date. */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) {
    return '';
  }
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) {
    return iso;
  }
  const s = Math.max(0, (now - t) / 1000);
  if (s < 60) {
    return `${Math.floor(s)} s ago`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  return formatTime(iso).slice(0, 10);
}

/** Bytes as `512 B`, `1.5 KiB`, `3.2 MiB`... */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The first 8 characters of an id. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A shape as `1000×64`. */
export function formatShape(shape: number[] | null | undefined): string {
  return shape && shape.length ? shape.join('×') : '';
}
