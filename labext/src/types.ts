/**
 * The JSON wire schema of the tracker REST API (`/tracker/api/v1/`).
 *
 * This file mirrors `tracker/server/serialize.py`, `service.py` and `lineage.py`.
 * `tests/test_server_wire_schema.py` fetches every route from a real server and
 * type-checks the answers against these interfaces with `tsc`: a key added, removed or
 * retyped on either side fails that test.
 */

/** Anything JSON can hold. */
export type JSONValue =
  | string
  | number
  | boolean
  | null
  | JSONValue[]
  | { [key: string]: JSONValue };

/** A float that may be NaN or infinite: JSON carries those as strings. */
export type FloatValue = number | 'NaN' | 'Infinity' | '-Infinity';

/** A parameter value after flattening. */
export type ParamValue = string | number | boolean | null;

export type RunKind = 'run' | 'session' | 'cell' | 'search' | 'trial';
export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

export interface Source {
  notebook: string | null;
  cell_id: string | null;
  script: string | null;
}

export interface ErrorBrief {
  type: string;
  message: string;
}

export interface RunErrorInfo extends ErrorBrief {
  traceback: string | null;
}

/** One row of the runs table (`GET /runs`). */
export interface RunSummary {
  id: string;
  name: string;
  kind: RunKind;
  status: RunStatus;
  start_time: string;
  end_time: string | null;
  duration_s: number | null;
  parent_id: string | null;
  tags: Record<string, string>;
  params: Record<string, ParamValue>;
  metrics: Record<string, FloatValue>;
  notes: string;
  source: Source;
  error: ErrorBrief | null;
  data_names: string[];
  nondeterministic: boolean;
}

export interface RunsPage {
  runs: RunSummary[];
  total: number;
  /** False when `total` is an estimate (more runs match than the server counts exactly). */
  total_exact: boolean;
  /** The `cursor` of the next page (keyset paging), or null on the last page. */
  next: string | null;
  offset: number;
  limit: number | null;
  order_by: string[];
}

/** A content hash of data, with the profile that explains differences. */
export interface DataRef {
  algorithm: string;
  digest: string;
  kind: string;
  nbytes: number;
  shape: number[] | null;
  dtypes: Record<string, string> | null;
  rows: number | null;
  nulls: Record<string, number> | null;
  partial: boolean;
  path: string | null;
  profile: Record<string, JSONValue> | null;
}

export interface EnvironmentInfo {
  python: string;
  implementation: string;
  platform: string;
  hostname: string;
  packages: Record<string, string>;
  git_commit: string | null;
  git_dirty: boolean | null;
  git_root: string | null;
  hardware: Record<string, JSONValue>;
}

export interface CellRecord {
  id: string;
  run_id: string;
  seq: number;
  cell_id: string | null;
  execution_count: number | null;
  source: string;
  source_hash: string;
  status: string;
  error: RunErrorInfo | null;
  reads: string[];
  writes: string[];
  inputs: Record<string, DataRef>;
  outputs: Record<string, DataRef>;
  params: Record<string, ParamValue>;
  metrics: Record<string, FloatValue>;
  started: string;
  duration_ms: number;
  child_run_id: string | null;
  nondeterministic: boolean;
  fingerprint: string | null;
  outcome_hash: string | null;
  /** Peak resident-memory growth during the cell, MB (null: not measured). */
  peak_memory_mb: number | null;
}

/** A file, directory, text or figure stored with a run, by content (xxh3-128 + SHA-256). */
export interface ArtifactInfo {
  run_id: string;
  name: string;
  digest: string;
  sha256: string;
  size: number;
  media_type: string;
  kind: string;
  created: string;
  meta: Record<string, JSONValue>;
}

/** `GET /runs/{id}/artifacts`: every artifact record, oldest first. Download one from
 * `/runs/{id}/artifacts/{name}` (add `?download=1` for an attachment). */
export interface ArtifactList {
  run_id: string;
  artifacts: ArtifactInfo[];
}

/** A run in full (`GET /runs/{id}`). */
export interface RunDetail {
  id: string;
  name: string;
  kind: RunKind;
  status: RunStatus;
  start_time: string;
  end_time: string | null;
  duration_s: number | null;
  parent_id: string | null;
  tags: Record<string, string>;
  params: Record<string, ParamValue>;
  metrics: Record<string, FloatValue>;
  data: Record<string, DataRef>;
  environment: EnvironmentInfo | null;
  notes: string;
  source: Source;
  error: RunErrorInfo | null;
  attrs: Record<string, JSONValue>;
  cells: CellRecord[];
  nondeterministic: boolean;
  fingerprint: string | null;
  outcome_hash: string | null;
  /** The latest artifact of each name. */
  artifacts: Record<string, ArtifactInfo>;
  children: number;
}

/** `PATCH /runs/{id}` body. */
export interface RunPatch {
  name?: string;
  notes?: string;
  tags?: Record<string, string | null>;
}

export interface MetricPoint {
  value: FloatValue;
  step: number | null;
  timestamp: string;
}

/** `GET /runs/{id}/metrics?key=...`. */
export interface MetricHistories {
  run_id: string;
  metrics: Record<string, MetricPoint[]>;
}

/** A cell record, a run, data in memory, or a file on disk (the start of a chain). */
export type LineageNodeType = 'run' | 'cell' | 'data' | 'file';

export interface LineageNode {
  id: string;
  type: LineageNodeType;
  label: string;
  run_id: string | null;
  cell_id: string | null;
  notebook: string | null;
  digest: string | null;
  detail: string | null;
  source: string | null;
  time: string | null;
}

/**
 * `source` led to `target`: data `read` by a cell, a cell that `wrote` data, a cell whose
 * value a later cell `uses`, a cell that `produced` a run, data a run `logged`.
 */
export interface LineageEdge {
  source: string;
  target: string;
  relation: 'read' | 'wrote' | 'uses' | 'produced' | 'logged';
  /** The variable, file or logged name involved. */
  name: string | null;
}

/** `GET /runs/{id}/lineage` (built by `tracker.provenance.lineage`). */
export interface Lineage {
  run_id: string;
  computed_by: 'provenance';
  nodes: LineageNode[];
  edges: LineageEdge[];
  truncated: boolean;
}

export interface CompareRow {
  key: string;
  values: JSONValue[];
  differs: boolean;
}

export interface DataBrief {
  digest: string;
  short: string;
  kind: string;
  shape: number[] | null;
  rows: number | null;
  partial: boolean;
}

export interface DataChange {
  what: string;
  before: JSONValue;
  after: JSONValue;
  text: string;
}

export interface DataCompareRow {
  name: string;
  refs: (DataBrief | null)[];
  changed: boolean;
  /** Per run: its changes against the first run (empty for the first run itself). */
  changes: DataChange[][];
}

/** `GET /compare?ids=a,b`. */
export interface Comparison {
  runs: RunSummary[];
  params: CompareRow[];
  metrics: CompareRow[];
  data: DataCompareRow[];
  environment: CompareRow[];
}

export type Direction = 'maximize' | 'minimize';

export interface ConstraintSpec {
  expr: string;
  metric: string | null;
  op: string | null;
  bound: JSONValue;
}

export interface SearchSummary extends RunSummary {
  study_name: string | null;
  objectives: Record<string, Direction>;
  constraints: ConstraintSpec[];
  n_trials: number;
  n_feasible: number | null;
  hypervolume: FloatValue | null;
  pareto_size: number;
  chosen: string | null;
  /** Set only when nothing was chosen: the trial that missed the constraints on test by the least. */
  closest: string | null;
}

export interface SearchesPage {
  searches: SearchSummary[];
  total: number;
  offset: number;
  limit: number | null;
}

export interface ConstraintStatus {
  value: JSONValue;
  violation: JSONValue;
  feasible: boolean | null;
}

export interface TrialRow {
  id: string;
  name: string;
  number: number | null;
  state: string | null;
  status: RunStatus;
  params: Record<string, ParamValue>;
  metrics: Record<string, FloatValue>;
  values: Record<string, JSONValue>;
  constraints: Record<string, ConstraintStatus>;
  feasible: boolean | null;
  pareto: boolean;
  duration_s: JSONValue;
  error: string | null;
  test: Record<string, JSONValue> | null;
  /** From the search's test re-check: `false` when the trial breaks a constraint on test; `null` when not re-checked. */
  feasible_on_test: boolean | null;
  start_time: string;
}

/** `attrs["search"]["importance"]`, computed by the search with Optuna's evaluators when it finished. */
export interface ParamImportance {
  /** The Optuna evaluator's class name (PedAnovaImportanceEvaluator by default). */
  method: string | null;
  n_complete: number;
  /** Objective to param to importance (normalised per objective; empty when not computed). */
  objectives: Record<string, Record<string, FloatValue>>;
  /** Why nothing was computed (too few trials, an error), else null. */
  reason: string | null;
}

export interface HypervolumePoint {
  step: number | null;
  value: FloatValue;
}

/** `GET /searches/{id}`. */
export interface SearchDetail {
  search: RunSummary;
  study_name: string | null;
  objectives: Record<string, Direction>;
  constraints: ConstraintSpec[];
  sampler: Record<string, JSONValue> | null;
  space: Record<string, JSONValue>;
  budget: JSONValue;
  pareto: string[];
  chosen: string | null;
  /** Set only when nothing was chosen: the trial that missed the constraints on test by the least. */
  closest: string | null;
  recheck: Record<string, JSONValue>;
  hypervolume: HypervolumePoint[];
  /** Null for a search recorded before importances were, or still running. */
  importance: ParamImportance | null;
  n_trials: number;
  n_feasible: number;
  trials: TrialRow[];
}

/** `GET /runs/{id}/card/sections`, and the answer to `PUT`/`PATCH /runs/{id}/card`. */
export interface CardSections {
  run_id: string;
  keys: string[];
  titles: Record<string, string>;
  /** What a person should write in each section (shown as the placeholder). */
  prompts: Record<string, string>;
  sections: Record<string, string>;
  missing: string[];
  updated: number | null;
}

export type CardFormat = 'md' | 'html' | 'json';

/** A registered model (`GET /models`): its newest version, how many, and its aliases. */
export interface RegisteredModelInfo {
  name: string;
  latest_version: number;
  versions: number;
  /** Alias -> version. */
  aliases: Record<string, number>;
  created: string;
  updated: string;
}

/** `GET /models`: every registered model, by name. */
export interface ModelsList {
  models: RegisteredModelInfo[];
}

/** One version of a registered model: a logged model pinned by its digest. */
export interface ModelVersionInfo {
  name: string;
  version: number;
  /** `models:/<name>/<version>`. */
  uri: string;
  /** `runs:/<run_id>/<model_name>`: the logged model it pins. */
  source: string;
  run_id: string;
  model_name: string;
  digest: string;
  sha256: string;
  created: string;
  created_by: string;
  aliases: string[];
  /** The model's metadata as logged (format, framework, input schema...). */
  meta: Record<string, JSONValue>;
}

export type RegistryAction = 'register' | 'set_alias' | 'remove_alias' | 'promote' | 'promotion_refused';

/** Something that happened in the registry (who, when, why; the requirements judged in `detail`). */
export interface RegistryEventInfo {
  id: string;
  name: string;
  action: RegistryAction;
  version: number | null;
  alias: string | null;
  /** The version the alias pointed at before (null: it was unset). */
  previous: number | null;
  who: string;
  timestamp: string;
  reason: string | null;
  detail: Record<string, JSONValue>;
}

/** `GET /models/{name}`: versions (newest first) with aliases, and the history (oldest first). */
export interface ModelDetail {
  name: string;
  latest_version: number;
  aliases: Record<string, number>;
  versions: ModelVersionInfo[];
  history: RegistryEventInfo[];
}

/** `GET /store`. Never holds a password: `url` is redacted by the server. */
export interface StoreInfo {
  kind: 'sqlite' | 'postgresql';
  url: string;
  path: string | null;
  schema_revision: string | null;
  server_version: string | null;
  runs: number;
  runs_by_kind: Record<string, number>;
  runs_by_status: Record<string, number>;
  cells: number;
  exists: boolean;
  configured_by: 'setting' | 'env' | 'default';
  api_version: number;
  tracker_version: string;
  /** Records this store refused, kept aside on the server's machine (`tracker sync --rejected`). */
  rejected: number;
}

/** A key present in the runs and how many of the sampled runs have it. */
export interface KeyCount {
  key: string;
  count: number;
}

/** `GET /keys?filter=&kind=...`: the params, metrics and tags the matching runs have. */
export interface RunKeys {
  metrics: KeyCount[];
  params: KeyCount[];
  tags: KeyCount[];
  /** How many runs were read to find them (the newest that match). */
  sampled: number;
  /** How many runs match. */
  total: number;
}

/** One run's points of a metric, `[step, value]` (step: the measurement's index when none was given). */
export interface CurveSeries {
  run_id: string;
  name: string;
  points: Array<[number, FloatValue]>;
  /** Points left out to keep the answer small (evenly, keeping the first and last). */
  dropped: number;
}

/** `GET /curves?ids=a,b&key=loss`: the metric-over-step curves of several runs. */
export interface Curves {
  keys: string[];
  curves: Record<string, CurveSeries[]>;
}

/** Every error answer. */
export interface ApiErrorBody {
  error: { code: string; message: string; status: number };
}
