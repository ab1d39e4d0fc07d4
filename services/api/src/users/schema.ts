import { z } from 'zod';
import { Email, Partner, User } from '../partners/schema.ts';

export const AddUserBody = z.object({ email: Email }).meta({ id: 'CreateUserRequest' });

export const UserIdParams = z.object({ userId: z.string() });

/** A create answer: the user at the top level, beside its one-time API key. */
export const AddedUser = User.extend({
  apiKey: z.string(),
  user: User.meta({ deprecated: true, description: 'Deprecated: the same fields as the top level; removed in the next version.' }),
}).meta({ id: 'CreatedUser' });

/** Who the key belongs to; `user` is null for a partner key that is not a user's. */
export const Me = z.object({ partner: Partner, user: User.nullable() }).meta({ id: 'Me' });
