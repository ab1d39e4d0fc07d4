import { z } from 'zod';
import { PageQuery } from '../http/pagination.ts';

// One lower-case word, optionally joined by `_` or `-` (`estates`, `status_changed`, `check-lists`).
const WORD = '[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*';
const DOTTED = new RegExp(`^${WORD}(?:\\.${WORD})+$`);

/** A function key: dotted lower-case words, at least two (`estates.read`, `orders.status.write`). */
export const FunctionKey = z.string().max(100).regex(DOTTED, 'must be dotted lower-case words, e.g. estates.read');

/** An event type a function emits: dotted lower-case words (`estate.created`, `order.status_changed`). */
export const EventType = z.string().max(100).regex(DOTTED, 'must be dotted lower-case words, e.g. estate.created');

/** A field of an event's data a product may filter by: a camelCase name (`departmentId`). */
export const FilterField = z.string().regex(/^[a-z][A-Za-z0-9]{0,63}$/, 'must be a camelCase field name, e.g. departmentId');

/** A list without repeats; a repeat is reported at its own index. */
const distinctList = <T extends z.ZodType<string>>(item: T, max: number) =>
  z
    .array(item)
    .max(max)
    .superRefine((values, ctx) => {
      values.forEach((value, i) => {
        if (values.indexOf(value) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `repeats ${value}` });
      });
    });

/** PUT replaces the whole entry, so the lists are required: leaving one out must not wipe it by accident. */
export const PutFunctionBody = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(2000).default(''),
  eventTypes: distinctList(EventType, 50),
  filterFields: distinctList(FilterField, 50),
}).meta({ id: 'PutFunctionRequest' });
export type PutFunctionInput = z.infer<typeof PutFunctionBody>;

export const FunctionKeyParams = z.object({ functionKey: FunctionKey });

export const CatalogFunction = z.object({
  key: z.string(),
  name: z.string(),
  description: z.string(),
  eventTypes: z.array(z.string()),
  filterFields: z.array(z.string()),
  /** True when it emits events, so partners can subscribe to it. */
  pushable: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: 'CatalogFunction' });
export type FunctionView = z.infer<typeof CatalogFunction>;

/** The catalog list: a page, optionally searched. */
export const ListFunctionsQuery = PageQuery.extend({
  /** Words (case-insensitive) that must each appear in the key, name or description. */
  q: z.string().trim().max(200).optional(),
});
export type ListFunctionsInput = z.infer<typeof ListFunctionsQuery>;
