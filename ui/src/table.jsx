// The one table of the dashboard: every view that lists rows draws them with it, so a table looks, scrolls and
// reads the same everywhere (headers with scope="col", wide tables scrolling inside their own box on a phone).

/**
 * A table of `rows`.
 * - `columns`: `{ title, cell(row, n), attrs?(row, n), hidden? }` each: the header, the cell's content, and
 *   the <td>'s attributes (class, data-*) when it has some. A column of buttons has no visible title ('') and
 *   names itself to screen readers only, with `hidden` (e.g. 'actions').
 * - `rowKey(row, n)`: a stable key per row (default: its index); `rowAttrs(row, n)`: the <tr>'s attributes.
 * - `empty`: a line across all columns when there is no row (default: an empty body).
 * - `id`, `class` and `label` (its accessible name) are the table's own.
 */
export function Table({ id, class: cls, label, columns, rows, rowKey, rowAttrs, empty }) {
  return (
    <div class="scroll">
      <table id={id} class={cls} aria-label={label}>
        <thead>
          <tr>
            {columns.map((c, n) => (
              <th key={n} scope="col">
                {c.title || (c.hidden && <span class="hidden-name">{c.hidden}</span>)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && empty && (
            <tr>
              <td colSpan={columns.length}>{empty}</td>
            </tr>
          )}
          {rows.map((row, n) => (
            <tr key={rowKey ? rowKey(row, n) : n} {...(rowAttrs ? rowAttrs(row, n) : {})}>
              {columns.map((c, k) => (
                <td key={k} {...(c.attrs ? c.attrs(row, n) : {})}>
                  {c.cell(row, n)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
