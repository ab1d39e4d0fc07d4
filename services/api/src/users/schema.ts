import { z } from 'zod';
import { Email, Partner, User } from '../partners/schema.ts';

export const AddUserBody = z.object({ email: Email }).meta({ id: 'CreateUserRequest' });

export const UserIdParams = z.object({ id: z.string() });

export const AddedUser = z.object({ user: User, apiKey: z.string() }).meta({ id: 'CreatedUser' });

/** Who the key belongs to; `user` is null for a partner key that is not a user's. */
export const Me = z.object({ partner: Partner, user: User.nullable() }).meta({ id: 'Me' });
