import { z } from 'zod';

/** One problem with one field of the input (`error.details[]`). */
export const ErrorDetailSchema = z
  .object({
    /** Where: `body.url`, `query.cursor`, `params.productId`, `headers.authorization`. */
    path: z.string(),
    message: z.string(),
    code: z.string().optional(),
  })
  .meta({ id: 'ErrorDetail', description: 'One problem with one field of the input, named by its path (`body.url`, `query.cursor`).' });

/**
 * The body of every error answer, 4xx and 5xx alike: the error middleware writes it, the
 * OpenAPI document names it `Error`. Strict on purpose: a field added to the answers without
 * being added here makes the document's test fail, so the two cannot drift apart.
 */
export const ErrorBodySchema = z
  .strictObject({
    error: z.strictObject({
      /** Stable, snake_case: what a client branches on (`not_found`, `validation_failed`). */
      code: z.string(),
      /** A sentence for people; may change between versions. */
      message: z.string(),
      details: z.array(ErrorDetailSchema),
      /** The answer's `x-request-id`: quote it when asking about a request. */
      requestId: z.string(),
    }),
  })
  .meta({
    id: 'Error',
    description: 'Every error answer has this body. Branch on `error.code`; `error.details` name each offending field; quote `error.requestId` when asking about a request.',
    example: {
      error: {
        code: 'validation_failed',
        message: 'invalid body: body.url',
        details: [{ path: 'body.url', message: 'must be a URL', code: 'too_small' }],
        requestId: '3b1f7c52-9f0e-4a57-8d2a-6c1e0b9d4f10',
      },
    },
  });

/** An error answer's body. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
