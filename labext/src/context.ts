/** What every view of the panel may use: the API, settings and navigation. */

import type { TrackerAPI } from './api';
import type { ColumnSpec, TrackerState } from './state';

export interface PanelSettings {
  /** Milliseconds between refreshes while the panel is visible. */
  refreshInterval: number;
  /** Rows fetched per request by the runs table. */
  pageSize: number;
  /** Run kinds the runs table hides by default. */
  hideKinds: string[];
  /** Metric columns of the runs table; empty: the most common ones. */
  metricColumns: string[];
  /** Param columns of the runs table; empty: the most common ones. */
  paramColumns: string[];
  /** How many metric/param columns to pick when none are configured. */
  maxAutoColumns: number;
  /** Refresh when a notebook cell finishes executing. */
  refreshOnCellExecuted: boolean;
  /** Columns of the runs table, in order, with widths (saved when a person changes them). */
  columns: ColumnSpec[];
}

export const DEFAULT_SETTINGS: PanelSettings = {
  refreshInterval: 1000,
  pageSize: 100,
  hideKinds: ['trial'],
  metricColumns: [],
  paramColumns: [],
  maxAutoColumns: 3,
  refreshOnCellExecuted: true,
  columns: []
};

export interface PanelContext {
  api: TrackerAPI;
  settings: PanelSettings;
  /** Selection, columns, sort and filter, shared by the sidebar and the main-area view. */
  state: TrackerState;
  openRun(id: string): void;
  openSearch(id: string): void;
  openCompare(ids: string[]): void;
  openCard(id: string): void;
  /** A registered model: its versions, aliases and history. */
  openModel(name: string): void;
  /** The card of a registered model's version (`runId`: the run that logged it). */
  openVersionCard(name: string, version: number, runId?: string): void;
  /** Scroll the notebook (opened if needed) to a cell; false when it cannot be found. */
  goToCell(notebook: string | null, cellId: string): Promise<boolean>;
  /** Offer text (or bytes already fetched through the API) as a file download. */
  download(filename: string, text: string | Blob, mime: string): void;
  /** A short status message at the bottom of the panel. */
  notify(message: string, kind?: 'info' | 'error'): void;
}

/** A screen of the panel: a node, refreshed by the live poll. */
export interface View {
  readonly node: HTMLElement;
  /** Title for the breadcrumb. */
  readonly title: string;
  /** Re-read from the server; called by the poll (keep it cheap). */
  refresh(): Promise<void>;
  /** Whether the poll should keep refreshing this view (false: finished data). */
  readonly live: boolean;
  dispose(): void;
}
