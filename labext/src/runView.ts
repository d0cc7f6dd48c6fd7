/** One run in full: params, metrics, data with profiles, environment, cells, lineage. */

import { artifactsTable } from './artifacts';
import type { PanelContext, View } from './context';
import { lineChart, sparkline } from './charts';
import { button, clear, h, kvTable, section } from './dom';
import { formatBytes, formatDuration, formatShape, formatTime, formatValue, shortId, toNumber } from './format';
import type { CellRecord, DataRef, Lineage, RunDetail } from './types';

function dataRow(name: string, ref: DataRef): HTMLElement {
  const facts: Array<[string, string]> = [
    ['digest', `${ref.algorithm}:${ref.digest}`],
    ['kind', ref.kind],
    ['shape', formatShape(ref.shape)],
    ['rows', ref.rows === null ? '' : String(ref.rows)],
    ['size', formatBytes(ref.nbytes)]
  ];
  if (ref.path) {
    facts.push(['path', ref.path]);
  }
  const body: Node[] = [kvTable(facts.filter(f => f[1] !== ''))];
  if (ref.partial) {
    const reason = ref.profile && typeof ref.profile['partial_reason'] === 'string' ? String(ref.profile['partial_reason']) : '';
    body.unshift(h('p', { class: 'jp-tracker-warning' }, `Partial hash: not all of the content went into the digest. ${reason}`));
  }
  if (ref.dtypes && Object.keys(ref.dtypes).length) {
    body.push(
      h(
        'table',
        { class: 'jp-tracker-grid-table' },
        h('thead', null, h('tr', null, h('th', null, 'column'), h('th', null, 'dtype'), h('th', null, 'missing'))),
        h(
          'tbody',
          null,
          ...Object.entries(ref.dtypes).map(([col, dt]) =>
            h('tr', null, h('td', null, col || '(values)'), h('td', null, dt), h('td', null, ref.nulls ? String(ref.nulls[col] ?? '') : ''))
          )
        )
      )
    );
  }
  if (ref.profile && Object.keys(ref.profile).length) {
    body.push(section('Profile', false, h('pre', { class: 'jp-tracker-pre' }, JSON.stringify(ref.profile, null, 2))));
  }
  return section(
    h('span', null, h('strong', null, name), ' ', h('code', { title: ref.digest }, ref.digest.slice(0, 12)), ' ', ref.kind, ' ', formatShape(ref.shape)),
    false,
    ...body
  );
}

export class RunView implements View {
  readonly node: HTMLElement;
  title = 'Run';
  private run: RunDetail | null = null;
  private lineage: Lineage | null = null;
  private histories = new Map<string, number[]>();
  private open = new Set<string>(['params', 'metrics', 'artifacts']);
  private editing = false;

  constructor(
    private readonly ctx: PanelContext,
    readonly runId: string
  ) {
    this.node = h('div', { class: 'jp-tracker-run', aria: { busy: 'true' } }, h('p', { class: 'jp-tracker-muted' }, 'Loading run…'));
  }

  get live(): boolean {
    return !this.run || this.run.status === 'running';
  }

  async refresh(): Promise<void> {
    if (this.editing) {
      return; // never yank an input from under the user's cursor
    }
    const run = await this.ctx.api.run(this.runId);
    this.run = run;
    this.title = run.name;
    this.render();
  }

  private remember(key: string, d: HTMLDetailsElement): HTMLDetailsElement {
    d.open = this.open.has(key);
    d.addEventListener('toggle', () => {
      if (d.open) {
        this.open.add(key);
        if (key === 'lineage' && !this.lineage) {
          void this.loadLineage(d);
        }
      } else {
        this.open.delete(key);
      }
    });
    return d;
  }

  private render(): void {
    const run = this.run;
    if (!run) {
      return;
    }
    this.node.removeAttribute('aria-busy');
    clear(this.node);
    const actions = h(
      'div',
      { class: 'jp-tracker-actions' },
      button('Rename', () => this.rename(), { title: 'Rename this run' }),
      button('Model card', () => this.ctx.openCard(run.id), { title: 'Open the model card of this run' }),
      run.kind === 'search' ? button('Search view', () => this.ctx.openSearch(run.id)) : null,
      run.parent_id ? button('Parent', () => this.ctx.openRun(run.parent_id as string), { title: 'Open the parent run' }) : null
    );
    const head = h(
      'div',
      { class: 'jp-tracker-run-head' },
      h('h2', { class: 'jp-tracker-title' }, run.name),
      h(
        'div',
        { class: 'jp-tracker-muted' },
        h('span', { class: `jp-tracker-status jp-mod-${run.status}` }, run.status),
        ` ${run.kind} · `,
        h('code', { title: run.id }, shortId(run.id)),
        ` · started ${formatTime(run.start_time)}`,
        run.duration_s !== null ? ` · ${formatDuration(run.duration_s)}` : '',
        run.children ? ` · ${run.children} child runs` : '',
        run.source.notebook ? ` · ${run.source.notebook}` : ''
      ),
      run.nondeterministic
        ? h('p', { class: 'jp-tracker-warning' }, 'Not reproducible: another record with the same code, inputs and params measured different metrics.')
        : null,
      run.error ? h('pre', { class: 'jp-tracker-pre jp-tracker-error' }, `${run.error.type}: ${run.error.message}`) : null,
      actions
    );
    this.node.append(head, this.tagsEditor(run), this.notesEditor(run));
    const params = Object.entries(run.params);
    this.node.append(
      this.remember('params', section(`Parameters (${params.length})`, true, params.length ? kvTable(params.map(([k, v]) => [k, formatValue(v)])) : h('p', { class: 'jp-tracker-muted' }, 'No parameters.')))
    );
    this.node.append(this.remember('metrics', section(`Metrics (${Object.keys(run.metrics).length})`, true, this.metricsTable(run))));
    const data = Object.entries(run.data);
    this.node.append(
      this.remember(
        'data',
        section(`Data (${data.length})`, false, ...(data.length ? data.map(([n, r]) => dataRow(n, r)) : [h('p', { class: 'jp-tracker-muted' }, 'No data logged.')]))
      )
    );
    // The latest artifact of each name, oldest first (older ones stay at /runs/{id}/artifacts).
    const artifacts = Object.values(run.artifacts ?? {}).sort((a, b) => a.created.localeCompare(b.created));
    this.node.append(this.remember('artifacts', section(`Artifacts (${artifacts.length})`, artifacts.length > 0, artifactsTable(this.ctx, artifacts))));
    if (run.environment) {
      const e = run.environment;
      const rows: Array<[string, string]> = [
        ['Python', `${e.implementation} ${e.python}`],
        ['Platform', e.platform],
        ['Host', e.hostname]
      ];
      if (e.git_commit) {
        rows.push(['Git commit', `${e.git_commit}${e.git_dirty ? ' (uncommitted changes)' : ''}`]);
      }
      for (const [k, v] of Object.entries(e.hardware)) {
        rows.push([`hardware ${k}`, formatValue(v)]);
      }
      const pkgs = Object.entries(e.packages).sort((a, b) => a[0].localeCompare(b[0]));
      this.node.append(
        this.remember(
          'env',
          section(
            'Environment',
            false,
            kvTable(rows),
            pkgs.length ? section(`Packages (${pkgs.length})`, false, kvTable(pkgs)) : null
          )
        )
      );
    }
    if (run.cells.length) {
      this.node.append(this.remember('cells', section(`Cells (${run.cells.length})`, false, ...run.cells.map(c => this.cellRow(run, c)))));
    }
    const lin = this.remember('lineage', section('Lineage', false, h('p', { class: 'jp-tracker-muted' }, 'Loading…')));
    this.node.append(lin);
    if (lin.open) {
      void this.loadLineage(lin);
    }
  }

  private metricsTable(run: RunDetail): HTMLElement {
    const entries = Object.entries(run.metrics);
    if (!entries.length) {
      return h('p', { class: 'jp-tracker-muted' }, 'No metrics.');
    }
    const body = h('tbody');
    for (const [k, v] of entries) {
      const hist = this.histories.get(k);
      const trend = h('td', { class: 'jp-tracker-trend' });
      if (hist) {
        trend.appendChild(hist.length > 1 ? sparkline(hist) : document.createTextNode('single value'));
      } else {
        trend.appendChild(
          button('history', () => void this.loadHistory(k, trend), { cls: 'jp-mod-small', title: `Show every logged value of ${k}` })
        );
      }
      body.appendChild(h('tr', null, h('th', { attrs: { scope: 'row' } }, k), h('td', { class: 'jp-mod-numeric' }, formatValue(v)), trend));
    }
    return h('table', { class: 'jp-tracker-kv' }, body);
  }

  private async loadHistory(key: string, cell: HTMLElement): Promise<void> {
    const res = await this.ctx.api.metrics(this.runId, [key]);
    const points = res.metrics[key] ?? [];
    const values = points.map(p => toNumber(p.value)).filter((v): v is number => v !== null);
    this.histories.set(key, values);
    clear(cell);
    if (points.length > 1) {
      cell.appendChild(
        lineChart(
          points.map((p, i) => ({ x: p.step ?? i, y: toNumber(p.value) ?? NaN })),
          { xLabel: 'step', yLabel: key, width: 320, height: 160, title: `${key} by step` }
        )
      );
    } else {
      cell.appendChild(document.createTextNode('single value'));
    }
  }

  private cellRow(run: RunDetail, c: CellRecord): HTMLElement {
    const io = (label: string, refs: Record<string, DataRef>) => {
      const names = Object.entries(refs);
      return names.length
        ? h('div', { class: 'jp-tracker-io' }, `${label}: `, ...names.map(([n, r]) => h('span', { class: 'jp-tracker-chip', title: `${r.kind} ${r.digest}` }, `${n} ${r.digest.slice(0, 8)}`)))
        : null;
    };
    const go = c.cell_id
      ? button(
          'Go to cell',
          () => {
            void this.ctx.goToCell(run.source.notebook, c.cell_id as string).then(found => {
              if (!found) {
                this.ctx.notify(`Cell ${c.cell_id} is not in ${run.source.notebook ?? 'an open notebook'} any more.`, 'error');
              }
            });
          },
          { title: 'Scroll the notebook to this cell', cls: 'jp-tracker-goto' }
        )
      : null;
    const metrics = Object.entries(c.metrics);
    return h(
      'div',
      { class: `jp-tracker-cellrec jp-mod-${c.status}`, dataset: { cellId: c.cell_id ?? '' } },
      h(
        'div',
        { class: 'jp-tracker-cellrec-head' },
        h('span', { class: 'jp-tracker-count-badge' }, `[${c.execution_count ?? ' '}]`),
        ` ${c.status} · ${Math.round(c.duration_ms)} ms · ${formatTime(c.started)}`,
        c.nondeterministic ? h('span', { class: 'jp-tracker-flag', title: 'Same code and inputs as another execution, different metrics' }, ' ≠ not reproducible') : null,
        go,
        c.child_run_id ? button('Run', () => this.ctx.openRun(c.child_run_id as string), { cls: 'jp-mod-small' }) : null
      ),
      h('pre', { class: 'jp-tracker-code' }, h('code', null, c.source)),
      io('read', c.inputs),
      io('wrote', c.outputs),
      metrics.length ? h('div', { class: 'jp-tracker-io' }, 'metrics: ', metrics.map(([k, v]) => `${k}=${formatValue(v)}`).join(', ')) : null,
      c.error ? h('pre', { class: 'jp-tracker-pre jp-tracker-error' }, `${c.error.type}: ${c.error.message}`) : null
    );
  }

  private async loadLineage(container: HTMLDetailsElement): Promise<void> {
    try {
      this.lineage = await this.ctx.api.lineage(this.runId);
    } catch (err) {
      this.replaceBody(container, h('p', { class: 'jp-tracker-error' }, String((err as Error).message ?? err)));
      return;
    }
    this.replaceBody(container, this.lineageList(this.lineage));
  }

  private replaceBody(d: HTMLDetailsElement, node: Node): void {
    while (d.childNodes.length > 1) {
      d.removeChild(d.lastChild as Node);
    }
    d.appendChild(node);
  }

  private lineageList(lin: Lineage): HTMLElement {
    const byId = new Map(lin.nodes.map(n => [n.id, n]));
    const inputs = new Map<string, Array<{ from: string; rel: string }>>();
    for (const e of lin.edges) {
      const list = inputs.get(e.target) ?? [];
      list.push({ from: e.source, rel: e.relation });
      inputs.set(e.target, list);
    }
    const ol = h('ol', { class: 'jp-tracker-lineage' });
    const ordered = [...lin.nodes].sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''));
    for (const n of ordered) {
      const from = (inputs.get(n.id) ?? []).map(i => `${i.rel} ← ${byId.get(i.from)?.label ?? i.from}`);
      const actions: Node[] = [];
      if (n.type === 'cell' && n.cell_id) {
        const cellId = n.cell_id;
        actions.push(button('Go to cell', () => void this.ctx.goToCell(n.notebook, cellId), { cls: 'jp-mod-small' }));
      }
      if (n.type === 'run' && n.run_id && n.run_id !== this.runId) {
        const id = n.run_id;
        actions.push(button('Open', () => this.ctx.openRun(id), { cls: 'jp-mod-small' }));
      }
      ol.appendChild(
        h(
          'li',
          { class: `jp-tracker-lineage-${n.type}` },
          h('span', { class: 'jp-tracker-chip' }, n.type),
          ' ',
          h('strong', { title: n.source ?? n.digest ?? '' }, n.label),
          n.detail ? h('span', { class: 'jp-tracker-muted' }, ` ${n.detail}`) : null,
          ...actions,
          from.length ? h('div', { class: 'jp-tracker-muted' }, from.join('; ')) : null
        )
      );
    }
    return h(
      'div',
      null,
      lin.nodes.length <= 1 ? h('p', { class: 'jp-tracker-muted' }, 'No recorded cells or data lead to this run.') : ol,
      lin.truncated ? h('p', { class: 'jp-tracker-muted' }, 'The graph was cut at its size limit.') : null
    );
  }

  private tagsEditor(run: RunDetail): HTMLElement {
    const chips = Object.entries(run.tags).map(([k, v]) =>
      h(
        'span',
        { class: 'jp-tracker-chip jp-tracker-tag' },
        `${k}=${v}`,
        h(
          'button',
          {
            class: 'jp-tracker-chip-x',
            title: `Remove tag ${k}`,
            attrs: { type: 'button', 'aria-label': `Remove tag ${k}` },
            on: { click: () => void this.patch({ tags: { [k]: null } }) }
          },
          '×'
        )
      )
    );
    const input = h('input', {
      class: 'jp-tracker-input jp-mod-small',
      attrs: { type: 'text', placeholder: 'key=value', 'aria-label': 'Add a tag as key=value' },
      on: {
        keydown: (ev: KeyboardEvent) => {
          if (ev.key === 'Enter') {
            const text = input.value;
            const eq = text.indexOf('=');
            if (eq <= 0) {
              this.ctx.notify('Write a tag as key=value', 'error');
              return;
            }
            void this.patch({ tags: { [text.slice(0, eq).trim()]: text.slice(eq + 1).trim() } });
          }
        },
        focus: () => (this.editing = true),
        blur: () => (this.editing = false)
      }
    });
    return h('div', { class: 'jp-tracker-tags' }, ...chips, input);
  }

  private notesEditor(run: RunDetail): HTMLElement {
    const area = h('textarea', {
      class: 'jp-tracker-notes',
      attrs: { rows: '2', placeholder: 'Notes', 'aria-label': 'Notes' },
      on: { focus: () => (this.editing = true), blur: () => (this.editing = false) }
    });
    area.value = run.notes;
    const save = button('Save notes', () => void this.patch({ notes: area.value }), { cls: 'jp-mod-small' });
    return h('div', { class: 'jp-tracker-notes-box' }, area, save);
  }

  private rename(): void {
    const run = this.run;
    if (!run) {
      return;
    }
    const title = this.node.querySelector('.jp-tracker-title');
    if (!title) {
      return;
    }
    this.editing = true;
    const input = h('input', {
      class: 'jp-tracker-input jp-tracker-rename',
      attrs: { type: 'text', 'aria-label': 'New name' },
      on: {
        keydown: (ev: KeyboardEvent) => {
          if (ev.key === 'Enter') {
            this.editing = false;
            void this.patch({ name: input.value });
          } else if (ev.key === 'Escape') {
            this.editing = false;
            this.render();
          }
        }
      }
    });
    input.value = run.name;
    title.replaceWith(input);
    input.focus();
    input.select();
  }

  private async patch(body: Parameters<PanelContext['api']['updateRun']>[1]): Promise<void> {
    try {
      this.run = await this.ctx.api.updateRun(this.runId, body);
      this.title = this.run.name;
      this.editing = false;
      this.render();
      this.ctx.notify('Saved');
    } catch (err) {
      this.ctx.notify(String((err as Error).message ?? err), 'error');
    }
  }

  dispose(): void {
    this.run = null;
  }
}
