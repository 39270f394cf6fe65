/**
 * Loads one program of bench/floor.bpf.c (tp: classic tracepoint, tp_btf)
 * and keeps it attached until SIGINT, then prints, like the agent, a summary
 * line with the number of invocations ("events received: floor=N; ...").
 *
 * Usage: node dist/bench/floor.js tp|tp_btf <build/bench/floor.bpf.o>
 */
import { BpfObject } from '../addon/lib/index';

function main(): void {
  const [which, objectPath] = process.argv.slice(2);
  if ((which !== 'tp' && which !== 'tp_btf') || !objectPath) {
    process.stderr.write('usage: floor.js tp|tp_btf <floor.bpf.o>\n');
    process.exit(2);
  }
  const program = which === 'tp' ? 'floor_tp' : 'floor_btf';
  const object = BpfObject.open(objectPath);
  object.setAutoload(which === 'tp' ? 'floor_btf' : 'floor_tp', false);
  object.load();
  const link = object.attach(program);
  const key = Buffer.alloc(4);
  process.stderr.write(`floor: ${program} attached; running; Ctrl-C prints the count\n`);
  const timer = setInterval(() => undefined, 1 << 30);
  process.once('SIGINT', () => {
    const hits = object.map('hits').lookup(key)?.readBigUInt64LE(0) ?? 0n;
    link.destroy();
    object.close();
    clearInterval(timer);
    // Each connect of the storm fires 6 transitions: report invocations, the bench divides.
    process.stderr.write(`events received: floor=${hits}; lost in kernel: 0; decode errors: 0; spans sampled out: 0; spans exported: 0; spans dropped: 0\n`);
  });
}

main();
