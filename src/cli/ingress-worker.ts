import { workerMain } from './ingress-process.js';

void workerMain(process.argv[2] ?? '');
