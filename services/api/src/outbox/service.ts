export { listMail } from './repository.ts';
