/** A deployment's steps as a list: name, status, time, and what a step had to say. */
export function Steps({ steps, id }) {
  return (
    <ol class="steps" id={id}>
      {steps.map((s, n) => (
        <li key={n} class={`step step-${s.status}`} data-step={s.name}>
          <span class="step-name">{s.name}</span> <span class="step-status">{s.status}</span>
          {s.ms != null && <span class="note"> {(s.ms / 1000).toFixed(1)} s</span>}
          {(s.error || s.detail) && <div class="note">{s.error ?? s.detail}</div>}
        </li>
      ))}
    </ol>
  );
}
