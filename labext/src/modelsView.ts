/**
 * The model registry in the panel: the registered models (name, latest version,
 * aliases), and one model's versions (aliases, the run that logged it, when, the digest),
 * its history (registrations, aliases moved, promotions and refusals with their reasons),
 * and a way to each version's card and to the run or cell that produced it.
 * Every name, alias and reason is user text: it goes in as text nodes only (dom.ts).
 */

import type { PanelContext, View } from './context';
import { button, clear, h } from './dom';
import { formatAgo, formatTime, shortId } from './format';
import type { JSONValue, ModelDetail, ModelsList, ModelVersionInfo, RegistryEventInfo } from './types';

/** `@alias` chips, one per alias, with the version it points at when given. */
function aliasChips(aliases: Array<[string, number | null]>): HTMLElement {
  return h(
    'span',
    { class: 'jp-tracker-aliases' },
    ...aliases.map(([alias, version]) =>
      h('span', { class: 'jp-tracker-chip jp-tracker-alias', title: version === null ? `alias ${alias}` : `alias ${alias} → version ${version}` }, version === null ? `@${alias}` : `@${alias} → v${version}`)
    )
  );
}

function table(headers: string[], body: HTMLElement, cls = ''): HTMLTableElement {
  return h(
    'table',
    { class: `jp-tracker-grid-table ${cls}`.trim() },
    h('thead', null, h('tr', null, ...headers.map(t => h('th', { attrs: { scope: 'col' } }, t)))),
    body
  );
}

/** The `models` tab: every registered model. */
export class ModelsView implements View {
  readonly node: HTMLElement;
  readonly title = 'Models';
  readonly live = true;
  private list: ModelsList | null = null;

  constructor(private readonly ctx: PanelContext) {
    this.node = h('div', { class: 'jp-tracker-models' }, h('p', { class: 'jp-tracker-muted' }, 'Loading models…'));
  }

  async refresh(): Promise<void> {
    this.list = await this.ctx.api.models();
    this.render();
  }

  private render(): void {
    const list = this.list;
    if (!list) {
      return;
    }
    clear(this.node);
    if (!list.models.length) {
      this.node.appendChild(
        h('p', { class: 'jp-tracker-empty' }, 'No registered models yet. Log one with run.log_model(model, "model") and register it with tracker.register_model(ref, "name").')
      );
      return;
    }
    const body = h('tbody');
    for (const m of list.models) {
      const open = () => this.ctx.openModel(m.name);
      const aliases = Object.entries(m.aliases).sort((a, b) => a[0].localeCompare(b[0]));
      body.appendChild(
        h(
          'tr',
          {
            class: 'jp-tracker-clickable jp-tracker-model-row',
            tabIndex: 0,
            dataset: { model: m.name },
            on: {
              click: open,
              keydown: (ev: KeyboardEvent) => {
                if (ev.key === 'Enter') {
                  open();
                }
              }
            }
          },
          h('td', null, h('span', { class: 'jp-tracker-name' }, m.name)),
          h('td', { class: 'jp-mod-numeric' }, `v${m.latest_version}`),
          h('td', { class: 'jp-mod-numeric' }, String(m.versions)),
          h('td', null, aliasChips(aliases)),
          h('td', { title: formatTime(m.updated) }, formatAgo(m.updated))
        )
      );
    }
    this.node.appendChild(table(['Model', 'Latest', 'Versions', 'Aliases', 'Updated'], body, 'jp-tracker-models-table'));
  }

  dispose(): void {
    this.list = null;
  }
}

/** One registry event as a sentence (what happened; who and when are shown beside it). */
export function describeEvent(e: RegistryEventInfo): string {
  const v = (n: number | null) => (n === null ? '?' : `v${n}`);
  const was = e.previous === null ? '' : ` (was ${v(e.previous)})`;
  switch (e.action) {
    case 'register':
      return `registered ${v(e.version)}`;
    case 'set_alias':
      return `@${e.alias ?? ''} → ${v(e.version)}${was}`;
    case 'remove_alias':
      return `removed @${e.alias ?? ''}${was}`;
    case 'promote':
      return `promoted ${v(e.version)} to @${e.alias ?? ''}${was}`;
    case 'promotion_refused':
      return `refused to promote ${v(e.version)} to @${e.alias ?? ''}`;
    default:
      return `${String(e.action)} ${v(e.version)}`;
  }
}

interface Judged {
  requirement: string;
  held: boolean;
  detail: string;
}

/** The requirements a promotion judged (`detail.requirements`), as far as they are well formed. */
export function judgedRequirements(detail: Record<string, JSONValue>): Judged[] {
  const list = detail['requirements'];
  if (!Array.isArray(list)) {
    return [];
  }
  const out: Judged[] = [];
  for (const item of list) {
    if (item && typeof item === 'object' && !Array.isArray(item)) {
      out.push({ requirement: String(item['requirement'] ?? ''), held: item['held'] === true, detail: String(item['detail'] ?? '') });
    }
  }
  return out;
}

/** One registered model: its versions, its aliases and its history. */
export class ModelView implements View {
  readonly node: HTMLElement;
  readonly live = true;
  private model: ModelDetail | null = null;

  constructor(
    private readonly ctx: PanelContext,
    readonly name: string
  ) {
    this.node = h('div', { class: 'jp-tracker-model' }, h('p', { class: 'jp-tracker-muted' }, 'Loading model…'));
  }

  get title(): string {
    return this.name;
  }

  async refresh(): Promise<void> {
    const model = await this.ctx.api.model(this.name);
    // The poll asks every second: redraw only when something changed (keeps focus and scroll).
    if (this.model && JSON.stringify(this.model) === JSON.stringify(model)) {
      return;
    }
    this.model = model;
    this.render();
  }

  private render(): void {
    const m = this.model;
    if (!m) {
      return;
    }
    clear(this.node);
    const aliases = Object.entries(m.aliases).sort((a, b) => a[0].localeCompare(b[0]));
    this.node.append(
      h('h2', { class: 'jp-tracker-title' }, m.name),
      h('div', { class: 'jp-tracker-muted' }, `${m.versions.length} version${m.versions.length === 1 ? '' : 's'} · latest v${m.latest_version} `, aliasChips(aliases)),
      h('h3', null, 'Versions'),
      this.versionsTable(m.versions),
      h('h3', null, 'History'),
      this.history(m.history)
    );
  }

  private versionsTable(versions: ModelVersionInfo[]): HTMLElement {
    const body = h('tbody');
    for (const v of versions) {
      body.appendChild(
        h(
          'tr',
          { class: 'jp-tracker-version-row', dataset: { version: String(v.version) } },
          h('td', { class: 'jp-mod-numeric' }, `v${v.version}`),
          h('td', null, aliasChips(v.aliases.map(a => [a, null]))),
          h(
            'td',
            null,
            h('code', { title: v.source }, shortId(v.run_id)),
            ' ',
            button('Go to run', () => this.goToRun(v.run_id), { cls: 'jp-mod-small jp-tracker-goto-run', title: `Open run ${v.run_id}, which logged ${v.model_name}` }),
            button('Go to cell', () => void this.goToCell(v.run_id), { cls: 'jp-mod-small jp-tracker-goto', title: 'Scroll the notebook to the cell that ran this run' })
          ),
          h('td', { title: `${formatTime(v.created)} by ${v.created_by}` }, formatTime(v.created)),
          h('td', null, h('code', { title: `xxh3-128 ${v.digest}\nsha256 ${v.sha256}` }, v.digest.slice(0, 12))),
          h('td', null, button('Card', () => this.ctx.openVersionCard(v.name, v.version, v.run_id), { cls: 'jp-mod-small jp-tracker-version-card-button', title: `The model card of ${v.uri}` }))
        )
      );
    }
    return table(['Version', 'Aliases', 'Run', 'Created', 'Digest', ''], body, 'jp-tracker-versions');
  }

  private history(events: RegistryEventInfo[]): HTMLElement {
    if (!events.length) {
      return h('p', { class: 'jp-tracker-muted' }, 'No events.');
    }
    const ol = h('ol', { class: 'jp-tracker-history' });
    // Newest first: what happened last is what a person looks for.
    for (const e of [...events].reverse()) {
      const judged = judgedRequirements(e.detail);
      const refused = e.action === 'promotion_refused';
      ol.appendChild(
        h(
          'li',
          { class: `jp-tracker-event jp-mod-${e.action}`, dataset: { action: e.action } },
          h('span', { class: 'jp-tracker-event-what' }, describeEvent(e)),
          h('span', { class: 'jp-tracker-muted' }, ` · ${e.who} · `, h('span', { title: formatTime(e.timestamp) }, formatAgo(e.timestamp))),
          e.reason ? h('div', { class: 'jp-tracker-event-reason' }, `Reason: ${e.reason}`) : null,
          judged.length
            ? h(
                'ul',
                { class: 'jp-tracker-requirements' },
                ...judged
                  .filter(j => refused || j.held)
                  .map(j =>
                    h('li', { class: j.held ? 'jp-mod-held' : 'jp-mod-failed' }, `${j.held ? '✓' : '✗'} ${j.requirement}`, j.detail ? h('span', { class: 'jp-tracker-muted' }, `: ${j.detail}`) : null)
                  )
              )
            : null
        )
      );
    }
    return ol;
  }

  /** Select the run in the runs table (shared by the sidebar and the main tab) and open it. */
  private goToRun(runId: string): void {
    this.ctx.state.select([runId]);
    this.ctx.openRun(runId);
  }

  private async goToCell(runId: string): Promise<void> {
    try {
      const run = await this.ctx.api.run(runId);
      const cell = run.source.cell_id ?? [...run.cells].reverse().find(c => c.cell_id)?.cell_id ?? null;
      if (!cell) {
        this.ctx.notify(`Run ${shortId(runId)} was not started from a notebook cell; open the run instead.`, 'error');
        return;
      }
      const found = await this.ctx.goToCell(run.source.notebook, cell);
      if (!found) {
        this.ctx.notify(`Cell ${cell} is not in ${run.source.notebook ?? 'an open notebook'} any more.`, 'error');
      }
    } catch (err) {
      this.ctx.notify(String((err as Error).message ?? err), 'error');
    }
  }

  dispose(): void {
    this.model = null;
  }
}
