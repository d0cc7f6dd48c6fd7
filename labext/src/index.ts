/**
 * JupyterLab plugin: puts the tracker panel in the right sidebar, wires it to the
 * server API, the settings editor, the notebooks (go to cell, refresh after a cell
 * runs) and the command palette.
 */

import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { TrackerAPI } from './api';
import type { PanelSettings } from './context';
import { TrackerPanel } from './panel';

const PLUGIN_ID = 'jupyterlab-tracker:plugin';

namespace CommandIDs {
  export const open = 'tracker:open';
  export const refresh = 'tracker:refresh';
  export const searches = 'tracker:open-searches';
}

// A static icon (no user data): three bars of a chart under a trend line.
const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><rect x="3" y="13" width="4" height="8" rx="1"/>' +
  '<rect x="10" y="9" width="4" height="12" rx="1"/><rect x="17" y="5" width="4" height="16" rx="1"/></g>' +
  '<path class="jp-icon-accent0" d="M3 9 L10 5 L15 7 L21 2" fill="none" stroke="#616161" stroke-width="1.6"/></svg>';

export const trackerIcon = new LabIcon({ name: 'jupyterlab-tracker:icon', svgstr: ICON_SVG });

function readSettings(s: ISettingRegistry.ISettings): Partial<PanelSettings> {
  return s.composite as unknown as Partial<PanelSettings>;
}

/** Find (or open) the notebook and scroll it to the cell with this id. */
async function goToCell(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  docManager: IDocumentManager | null,
  path: string | null,
  cellId: string
): Promise<boolean> {
  const has = (p: NotebookPanel) => p.content.widgets.some(c => c.model.id === cellId);
  const matches = (p: NotebookPanel) => !path || p.context.path === path || p.context.path.endsWith(`/${path}`) || path.endsWith(`/${p.context.path}`);
  let target: NotebookPanel | null = null;
  notebooks?.forEach(p => {
    if (!target && matches(p) && has(p)) {
      target = p;
    }
  });
  notebooks?.forEach(p => {
    if (!target && has(p)) {
      target = p;
    }
  });
  if (!target && path && docManager) {
    const widget = docManager.openOrReveal(path);
    if (widget instanceof NotebookPanel) {
      await widget.context.ready;
      await widget.revealed;
      target = has(widget) ? widget : null;
    }
  }
  if (!target) {
    return false;
  }
  const panel: NotebookPanel = target;
  const nb = panel.content;
  const index = nb.widgets.findIndex(c => c.model.id === cellId);
  if (index < 0) {
    return false;
  }
  app.shell.activateById(panel.id);
  nb.activeCellIndex = index;
  nb.mode = 'command';
  await nb.scrollToCell(nb.widgets[index], 'center');
  nb.activeCell?.node.classList.add('jp-tracker-flash');
  window.setTimeout(() => nb.widgets[index]?.node.classList.remove('jp-tracker-flash'), 1500);
  return true;
}

function download(filename: string, text: string, mime: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Runs, cell lineage, searches and model cards of jupyterlab-tracker, beside the notebook.',
  autoStart: true,
  optional: [ILayoutRestorer, ISettingRegistry, INotebookTracker, IDocumentManager, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null,
    notebooks: INotebookTracker | null,
    docManager: IDocumentManager | null,
    palette: ICommandPalette | null
  ) => {
    const serverSettings = app.serviceManager.serverSettings;
    const api = new TrackerAPI((path, init) =>
      ServerConnection.makeRequest(URLExt.join(serverSettings.baseUrl, path), init, serverSettings)
    );
    const panel = new TrackerPanel(api, {
      goToCell: (nb, cell) => goToCell(app, notebooks, docManager, nb, cell),
      download
    });
    panel.title.icon = trackerIcon;
    app.shell.add(panel, 'right', { rank: 600 });
    restorer?.add(panel, 'jupyterlab-tracker');

    if (registry) {
      void registry.load(PLUGIN_ID).then(
        s => {
          panel.configure(readSettings(s));
          s.changed.connect(() => panel.configure(readSettings(s)));
        },
        err => console.warn('jupyterlab-tracker: settings not loaded', err)
      );
    }

    NotebookActions.executed.connect(() => {
      if (panel.ctx.settings.refreshOnCellExecuted) {
        panel.cellExecuted();
      }
    });

    app.commands.addCommand(CommandIDs.open, {
      label: 'Tracker: Show Runs',
      caption: 'Open the tracker side panel',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.showTab('runs');
      }
    });
    app.commands.addCommand(CommandIDs.searches, {
      label: 'Tracker: Show Searches',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.showTab('searches');
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Tracker: Refresh',
      execute: () => panel.refreshNow()
    });
    for (const command of [CommandIDs.open, CommandIDs.searches, CommandIDs.refresh]) {
      palette?.addItem({ command, category: 'Tracker' });
    }
  }
};

export default plugin;
