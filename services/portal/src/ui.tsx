import type { ComponentChildren, HTMLInputTypeAttribute, InputHTMLAttributes, TargetedEvent } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

/** The current hash route (`#/products/prd_1` is `/products/prd_1`), following changes. */
export function useRoute(): string {
  const read = () => location.hash.replace(/^#/, '') || '/';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Goes to a route of the portal. */
export function navigate(route: string): void {
  location.hash = route;
}

/** The screen's one heading, focused when the screen opens so a screen reader announces it. */
export function Page(props: { title: string; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} – hubhook partner portal`;
    heading.current?.focus();
  }, [props.title]);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1} ref={heading}>
        {props.title}
      </h1>
      {props.children}
    </section>
  );
}

/** Loads data for a screen; `reload` fetches it again after a change. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: ApiError | undefined; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: ApiError }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (error: unknown) => live && setState({ error: asApiError(error) }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data: state.data, error: state.error, reload: () => setTick((t) => t + 1) };
}

/** Any thrown value as an ApiError (a bug in the portal still shows as a message). */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, 'portal_error', error instanceof Error ? error.message : String(error), []);
}

/**
 * Runs a form's action: `busy` while it runs, the ApiError it threw in `error` (shown next
 * to the fields it names and at the top of the form).
 */
export function useAction(): {
  busy: boolean;
  error: ApiError | undefined;
  run: (action: () => Promise<void>) => Promise<void>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  return {
    busy,
    error,
    clear: () => setError(undefined),
    async run(action) {
      setBusy(true);
      setError(undefined);
      try {
        await action();
      } catch (err) {
        setError(asApiError(err));
      } finally {
        setBusy(false);
      }
    },
  };
}

let fieldCounter = 0;
function useId(prefix: string): string {
  const id = useRef<string>('');
  if (!id.current) id.current = `${prefix}-${++fieldCounter}`;
  return id.current;
}

interface FieldProps {
  label: string;
  /** The API's name for the field, to show its error here. */
  name: string;
  error?: ApiError;
  hint?: ComponentChildren;
  value: string;
  onInput: (value: string) => void;
  type?: HTMLInputTypeAttribute;
  required?: boolean;
  multiline?: boolean;
  autoComplete?: string;
  placeholder?: string;
}

/** The API's message for a field, right below it (`aria-describedby` points at `${id}-error`). */
function FieldError(props: { id: string; message: string | undefined }) {
  return props.message ? (
    <p class="field-error" id={`${props.id}-error`}>
      {props.message}
    </p>
  ) : null;
}

/** A labelled input with its hint and, when the API named it, its error right below. */
export function Field(props: FieldProps) {
  const id = useId(props.name.replace(/\W/g, '-'));
  const message = props.error?.field(props.name);
  const describedBy = [props.hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: props.name,
    value: props.value,
    required: props.required,
    'aria-invalid': message ? true : undefined,
    'aria-describedby': describedBy,
    autoComplete: props.autoComplete,
    placeholder: props.placeholder,
    onInput: (e: TargetedEvent<HTMLInputElement | HTMLTextAreaElement>) => props.onInput(e.currentTarget.value),
  };
  return (
    <div class={`field${message ? ' invalid' : ''}`}>
      <label for={id}>
        {props.label}
        {props.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.multiline ? <textarea rows={3} {...common} /> : <input {...({ ...common, type: props.type ?? 'text' } as InputHTMLAttributes<HTMLInputElement>)} />}
      <FieldError id={id} message={message} />
    </div>
  );
}

/** A labelled select whose options are `[value, label]` pairs. */
export function SelectField(props: { label: string; name: string; error?: ApiError; value: string; onChange: (value: string) => void; options: [string, string][] }) {
  const id = useId(props.name.replace(/\W/g, '-'));
  const message = props.error?.field(props.name);
  return (
    <div class={`field${message ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} value={props.value} aria-invalid={message ? true : undefined} aria-describedby={message ? `${id}-error` : undefined} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.options.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
      <FieldError id={id} message={message} />
    </div>
  );
}

/** A labelled checkbox. */
export function Checkbox(props: { label: ComponentChildren; checked: boolean; onChange: (checked: boolean) => void; name?: string }) {
  return (
    <label class="checkbox">
      <input type="checkbox" name={props.name} checked={props.checked} onChange={(e) => props.onChange(e.currentTarget.checked)} /> {props.label}
    </label>
  );
}

/** The error of a form or a screen, announced when it appears. */
export function ErrorMessage(props: { error?: ApiError; what?: string }) {
  if (!props.error) return null;
  const hasFields = Object.keys(props.error.fields).length > 0;
  return (
    <div class="error" role="alert">
      <p>
        {props.what ? `${props.what}: ` : ''}
        {hasFields ? 'please correct the fields marked below.' : props.error.message}
      </p>
      {hasFields ? <p class="error-detail">{props.error.message}</p> : null}
    </div>
  );
}

/** A confirmation, announced politely. */
export function Notice(props: { children: ComponentChildren }) {
  return (
    <div class="notice" role="status">
      {props.children}
    </div>
  );
}

/** A secret shown once (an access key, a signing secret), selectable for copying. */
export function ShownOnce(props: { label: string; value: string }) {
  const id = useId('secret');
  return (
    <div class="shown-once">
      <label for={id}>{props.label}</label>
      <input id={id} readOnly value={props.value} onFocus={(e) => e.currentTarget.select()} aria-describedby={`${id}-hint`} />
      <p class="hint" id={`${id}-hint`}>
        Copy it now: it is shown only this once and cannot be read again.
      </p>
    </div>
  );
}

/** A short date and time in the reader's locale, or a dash. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '–';
}

/** A screen's loading or load error, in place of its content. */
export function Loading(props: { error?: ApiError }) {
  return props.error ? <ErrorMessage error={props.error} what="Could not load this page" /> : <p aria-busy="true">Loading…</p>;
}

/**
 * A loaded list's three states in one place: Loading (or the load error) until `items` come,
 * `empty` when there are none, else what `children` makes of them.
 */
export function Loaded<T>(props: { items: readonly T[] | undefined; error?: ApiError; empty: ComponentChildren; children: (items: readonly T[]) => ComponentChildren }) {
  if (!props.items) return <Loading error={props.error} />;
  return <>{props.items.length === 0 ? props.empty : props.children(props.items)}</>;
}

/** One column of a `Table`: its heading and what each row shows in it. */
export interface Column<T> {
  /** The heading; with `hidden`, read by screen readers only (a column of checkboxes or buttons). */
  header: string;
  hidden?: boolean;
  /** A class for this column's cells. */
  class?: string;
  cell: (row: T) => ComponentChildren;
}

/** What a `Table` shows. */
export interface TableProps<T> {
  /** The table's accessible name. */
  label?: string;
  columns: Column<T>[];
  /** The rows; `undefined` while they load (Loading, or the load error, shows instead). */
  rows: readonly T[] | undefined;
  error?: ApiError;
  rowKey: (row: T) => string | number;
  /** Shown instead of the table when there are no rows (default: an empty table). */
  empty?: ComponentChildren;
  /** A row's details, in a full-width row below it (with `id` `detailId(row)`), or null. */
  detail?: (row: T) => ComponentChildren | null;
  detailId?: (row: T) => string;
}

/**
 * The portal's one list table: a header row of column headings (`scope="col"`), a body row
 * per item, and the list's loading, load error and empty states in its place.
 */
export function Table<T>(props: TableProps<T>) {
  if (!props.rows) return <Loading error={props.error} />;
  if (props.rows.length === 0 && props.empty !== undefined) return <>{props.empty}</>;
  const { columns, detail } = props;
  return (
    <table aria-label={props.label}>
      <thead>
        <tr>
          {columns.map((column) => (
            <th key={column.header} scope="col">
              {column.hidden ? <span class="visually-hidden">{column.header}</span> : column.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => {
          const key = props.rowKey(row);
          const more = detail ? detail(row) : null;
          return [
            <tr key={key}>
              {columns.map((column) => (
                <td key={column.header} class={column.class}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>,
            more ? (
              <tr key={`${key}-detail`} id={props.detailId?.(row)}>
                <td colSpan={columns.length}>{more}</td>
              </tr>
            ) : null,
          ];
        })}
      </tbody>
    </table>
  );
}
