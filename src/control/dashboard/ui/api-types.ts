/**
 * The API's answers as the page sees them: inferred from the zod schemas the routes validate
 * with (type-only imports, erased from the emitted JS). A renamed or retyped field fails the
 * dashboard build instead of showing "undefined" in the browser.
 */
import type { z } from 'zod';
import type * as S from '../../api-schemas.js';
import type { ExitHealthView, HealthHistoryView } from '../../exit-health-schema.js';

export type Customer = z.infer<typeof S.CustomerView>;
export type CustomerList = z.infer<typeof S.CustomerList>;
export type CustomerCreated = z.infer<typeof S.CustomerCreated>;
export type CustomerPatch = z.input<typeof S.CustomerPatch>;
export type Assignment = z.infer<typeof S.Assignment>;
export type Place = z.infer<typeof S.Place>;
export type PasswordIssued = z.infer<typeof S.PasswordIssued>;
export type Exit = z.infer<typeof S.ExitView>;
export type ExitList = z.infer<typeof S.ExitList>;
export type ExitCreated = z.infer<typeof S.ExitCreated>;
export type ExitCreate = z.input<typeof S.ExitCreate>;
export type ExitPatch = z.input<typeof S.ExitPatch>;
export type ExitToken = z.infer<typeof S.ExitToken>;
export type NodeList = z.infer<typeof S.NodeList>;
export type Revision = z.infer<typeof S.RevisionView>;
export type Granularity = z.infer<typeof S.Granularity>;
export type UsageList = z.infer<typeof S.UsageList>;
export type UsageRow = z.infer<typeof S.UsageRowView>;
export type MyUsage = z.infer<typeof S.MyUsageView>;
export type MyPorts = z.infer<typeof S.MyPortsView>;
export type MyConnect = z.infer<typeof S.MyConnectView>;
export type Notices = z.infer<typeof S.NoticesView>;
export type MyExits = z.infer<typeof S.MyExitsView>;
export type ExitHealth = z.infer<typeof ExitHealthView>;
export type HealthHistory = z.infer<typeof HealthHistoryView>;
