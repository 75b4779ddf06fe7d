/** GET /v1/exit-health's answer (routes/exit-health.ts), apart so that the dashboard's types import only zod. */
import { z } from 'zod';

export const ExitHealthView = z.object({
  exits: z.array(z.object({ id: z.string(), health: z.enum(['up', 'down', 'draining']) })),
  note: z.string(),
});
