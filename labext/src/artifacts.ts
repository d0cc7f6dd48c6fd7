/**
 * A run's artifacts (name, size, media type, digest) with download links. The link's
 * `href` is the server's artifact route (no credentials in it); a click fetches the bytes
 * through the panel's API client, which adds JupyterLab's token and XSRF header, so the
 * download works under any Jupyter auth. The server checks both digests as it streams.
 */

import type { PanelContext } from './context';
import { h } from './dom';
import { formatBytes, formatTime } from './format';
import type { ArtifactInfo } from './types';

/** The last part of an artifact name, as the downloaded file's name. */
export function downloadName(name: string): string {
  const base = name.split('/').filter(Boolean).pop() ?? '';
  return base || 'artifact';
}

/** Fetch one artifact through the API and offer it as a file. */
export async function downloadArtifact(ctx: PanelContext, a: ArtifactInfo): Promise<void> {
  try {
    const blob = await ctx.api.artifactBlob(a.run_id, a.name);
    ctx.download(downloadName(a.name), blob, a.media_type);
  } catch (err) {
    ctx.notify(`${a.name} not downloaded: ${String((err as Error).message ?? err)}`, 'error');
  }
}

/** The table of a run's artifacts, oldest first; a note when there are none. */
export function artifactsTable(ctx: PanelContext, artifacts: ArtifactInfo[]): HTMLElement {
  if (!artifacts.length) {
    return h('p', { class: 'jp-tracker-muted' }, 'No artifacts logged. Log one with run.log_artifact(path) or run.log_model(model).');
  }
  const body = h('tbody');
  for (const a of artifacts) {
    const link = h(
      'a',
      {
        class: 'jp-tracker-artifact-link',
        title: `Download ${a.name} (${a.kind})`,
        attrs: { href: ctx.api.url(ctx.api.artifactPath(a.run_id, a.name)), download: downloadName(a.name) },
        on: {
          click: (ev: MouseEvent) => {
            ev.preventDefault();
            void downloadArtifact(ctx, a);
          }
        }
      },
      a.name
    );
    body.appendChild(
      h(
        'tr',
        { class: 'jp-tracker-artifact', dataset: { name: a.name } },
        h('td', null, link, a.kind === 'model' ? h('span', { class: 'jp-tracker-chip' }, 'model') : null),
        h('td', { class: 'jp-mod-numeric' }, formatBytes(a.size)),
        h('td', null, a.media_type),
        h('td', null, h('code', { title: `xxh3-128 ${a.digest}\nsha256 ${a.sha256}` }, a.digest.slice(0, 12))),
        h('td', null, formatTime(a.created))
      )
    );
  }
  return h(
    'table',
    { class: 'jp-tracker-grid-table jp-tracker-artifacts' },
    h('thead', null, h('tr', null, ...['Name', 'Size', 'Media type', 'Digest', 'Logged'].map(t => h('th', { attrs: { scope: 'col' } }, t)))),
    body
  );
}
