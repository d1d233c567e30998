import { useEffect, useRef, useState } from 'preact/hooks';

let show = () => {};
/** What the banner shows: an action's error stays until the next action, a refresh's until a refresh works. */
let from = null;

/** Shows `text` in the banner (empty: clears it). A refresh clears only what a refresh said. */
export function say(text, source = 'action') {
  if (!text && source === 'refresh' && from !== 'refresh') return;
  from = text ? source : null;
  show(text ?? '');
}

export function Message() {
  const [text, setText] = useState('');
  useEffect(() => {
    show = setText;
  }, []);
  return (
    <p id="message" role="alert" hidden={!text}>
      {text}
    </p>
  );
}

/**
 * The second question a destructive action asks: `label` does it (`action` names the button for tests), "Keep it"
 * does not. It replaces the button that asked, so the keyboard's focus moves to "Keep it" (the safe answer);
 * Shift+Tab reaches the destructive one.
 */
export function Confirm({ action, label, onConfirm, onCancel }) {
  const keep = useRef(null);
  useEffect(() => keep.current?.focus(), []);
  return (
    <span class="confirm">
      <button type="button" data-action={action} onClick={onConfirm}>
        {label}
      </button>{' '}
      <button type="button" ref={keep} data-action="keep" onClick={onCancel}>
        Keep it
      </button>
    </span>
  );
}
