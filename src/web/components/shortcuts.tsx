import { Dialog } from "./dialog.tsx";

export const SHORTCUTS: [string, string][] = [
  ["?", "Show these shortcuts"],
  ["/", "Sessions: focus the search box"],
  ["↓ ↑ or j k", "Sessions: move between rows"],
  ["Enter", "Sessions: open the focused session"],
  ["Home End", "Sessions: first / last loaded row"],
  ["n", "Sessions: start a new session"],
  ["c", "Session: write to the agent (focus the chat box)"],
  ["l", "Session: jump to the latest event and follow"],
  ["b", "Session: back to the sessions list"],
  ["Enter Shift+Enter", "Chat: send / new line"],
  ["Esc", "Close a dialog"],
];

export function ShortcutsDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Dialog
      open={open}
      title="Keyboard shortcuts"
      onClose={onClose}
      actions={
        <button type="button" className="button" onClick={onClose}>
          Close
        </button>
      }
    >
      <dl className="shortcuts">
        {SHORTCUTS.map(([keys, what]) => (
          <div key={keys} className="shortcut">
            <dt>
              {keys.split(" ").map((k, i) =>
                k === "or" ? (
                  // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list of words
                  <span key={i}> {k} </span>
                ) : (
                  // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list of words
                  <kbd key={i}>{k}</kbd>
                ),
              )}
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
    </Dialog>
  );
}
