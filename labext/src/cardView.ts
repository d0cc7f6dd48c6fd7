/**
 * A run's model card: edit the human sections, preview, download as md/html/json; and
 * the card of a registered model version (read-only), shown by the same preview.
 */

import type { PanelContext, View } from './context';
import { append, button, clear, h } from './dom';
import type { CardFormat, CardSections } from './types';

const MIME: Record<CardFormat, string> = {
  md: 'text/markdown',
  html: 'text/html',
  json: 'application/json'
};

/**
 * The one card renderer of the panel: the server's HTML of a card, in an iframe whose
 * empty `sandbox` lets it neither run scripts nor reach this origin.
 */
export function cardPreview(): HTMLIFrameElement {
  return h('iframe', { class: 'jp-tracker-card-preview', title: 'Card preview', attrs: { sandbox: '' } });
}

/** Buttons that download a card as Markdown, HTML or JSON. */
function downloadButtons(download: (format: CardFormat) => void): HTMLElement {
  return h(
    'div',
    { class: 'jp-tracker-actions' },
    'Download: ',
    ...(['md', 'html', 'json'] as CardFormat[]).map(f => button(f === 'md' ? 'Markdown' : f.toUpperCase(), () => download(f), { title: `Download the card as ${f}` }))
  );
}

export class CardView implements View {
  readonly node: HTMLElement;
  title = 'Model card';
  readonly live = false;
  private sections: CardSections | null = null;
  private drafts = new Map<string, string>();
  private preview: HTMLIFrameElement;
  private status: HTMLElement;

  constructor(
    private readonly ctx: PanelContext,
    readonly runId: string
  ) {
    this.preview = cardPreview();
    this.status = h('span', { class: 'jp-tracker-muted', aria: { live: 'polite' } });
    this.node = h('div', { class: 'jp-tracker-card' }, h('p', { class: 'jp-tracker-muted' }, 'Loading card…'));
  }

  async refresh(): Promise<void> {
    const [sections, html] = await Promise.all([
      this.ctx.api.cardSections(this.runId),
      this.ctx.api.cardText(this.runId, 'html')
    ]);
    this.sections = sections;
    this.preview.srcdoc = html;
    this.render();
  }

  /** Sections with no text, as saved and as being edited (a draft counts once typed). */
  missing(): string[] {
    const s = this.sections;
    return s ? s.keys.filter(k => !(this.drafts.get(k) ?? s.sections[k] ?? '').trim()) : [];
  }

  get dirty(): boolean {
    const s = this.sections;
    return !!s && [...this.drafts].some(([k, v]) => (s.sections[k] ?? '') !== v);
  }

  private render(): void {
    const s = this.sections;
    if (!s) {
      return;
    }
    clear(this.node);
    const form = h('form', {
      class: 'jp-tracker-card-form',
      on: {
        submit: (ev: Event) => {
          ev.preventDefault();
          void this.save();
        }
      }
    });
    for (const key of s.keys) {
      const id = `jp-tracker-card-${key}-${this.runId.slice(0, 6)}`;
      const area = h('textarea', {
        class: 'jp-tracker-section-text',
        attrs: { id, rows: '3', name: key, placeholder: s.prompts[key] ?? '' },
        dataset: { key },
        on: { input: () => this.drafts.set(key, area.value) }
      });
      area.value = this.drafts.get(key) ?? s.sections[key] ?? '';
      const missing = !(this.drafts.get(key) ?? s.sections[key] ?? '').trim();
      form.appendChild(
        h(
          'div',
          { class: 'jp-tracker-field' },
          h('label', { attrs: { for: id } }, s.titles[key] ?? key, missing ? h('span', { class: 'jp-tracker-needs' }, ' needs input') : null),
          area
        )
      );
    }
    form.appendChild(h('div', { class: 'jp-tracker-actions' }, h('button', { class: 'jp-tracker-button jp-mod-accept', attrs: { type: 'submit' } }, 'Save sections'), this.status));
    const downloads = downloadButtons(f => void this.download(f));
    this.node.append(
      h('h2', null, 'Model card'),
      h(
        'p',
        { class: 'jp-tracker-muted' },
        `${this.missing().length} of ${s.keys.length} human sections need input. The rest of the card comes from the records.`
      ),
      downloads,
      form,
      h('h3', null, 'Preview'),
      this.preview
    );
  }

  async save(): Promise<void> {
    const s = this.sections;
    if (!s) {
      return;
    }
    const changed: Record<string, string> = {};
    for (const [k, v] of this.drafts) {
      if ((s.sections[k] ?? '') !== v) {
        changed[k] = v;
      }
    }
    if (!Object.keys(changed).length) {
      this.status.textContent = 'Nothing changed.';
      return;
    }
    try {
      this.sections = await this.ctx.api.updateCard(this.runId, changed);
      this.drafts.clear();
      this.preview.srcdoc = await this.ctx.api.cardText(this.runId, 'html');
      this.render();
      this.status.textContent = 'Saved.';
    } catch (err) {
      this.status.textContent = `Not saved: ${String((err as Error).message ?? err)}`;
    }
  }

  private async download(format: CardFormat): Promise<void> {
    try {
      const text = await this.ctx.api.cardText(this.runId, format);
      this.ctx.download(`model-card-${this.runId.slice(0, 8)}.${format}`, text, MIME[format]);
    } catch (err) {
      this.ctx.notify(String((err as Error).message ?? err), 'error');
    }
  }

  dispose(): void {
    this.sections = null;
  }
}

/**
 * The card of a registered model version (`models:/name/N`): the records' card with the
 * artifact digest, input schema, registry history and lineage. Read-only here: the human
 * sections are written on the card of the run that logged the model ("Run's card").
 */
export class VersionCardView implements View {
  readonly node: HTMLElement;
  readonly title: string;
  readonly live = false;
  private preview: HTMLIFrameElement;

  constructor(
    private readonly ctx: PanelContext,
    readonly model: string,
    readonly version: number,
    readonly runId: string | null = null
  ) {
    this.title = `${model} v${version} card`;
    this.preview = cardPreview();
    this.node = h('div', { class: 'jp-tracker-card jp-tracker-version-card' }, h('p', { class: 'jp-tracker-muted' }, 'Loading card…'));
  }

  async refresh(): Promise<void> {
    this.preview.srcdoc = await this.ctx.api.versionCardText(this.model, this.version, 'html');
    clear(this.node);
    const runId = this.runId;
    append(
      this.node,
      h('h2', null, `Model card: ${this.model} version ${this.version}`),
      downloadButtons(f => void this.download(f)),
      runId
        ? h(
            'div',
            { class: 'jp-tracker-actions' },
            button("Run's card", () => this.ctx.openCard(runId), { title: 'Edit the human sections on the card of the run that logged this model' })
          )
        : null,
      this.preview
    );
  }

  private async download(format: CardFormat): Promise<void> {
    try {
      const text = await this.ctx.api.versionCardText(this.model, this.version, format);
      const safe = this.model.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40) || 'model';
      this.ctx.download(`model-card-${safe}-v${this.version}.${format}`, text, MIME[format]);
    } catch (err) {
      this.ctx.notify(String((err as Error).message ?? err), 'error');
    }
  }

  dispose(): void {
    this.preview.srcdoc = '';
  }
}
