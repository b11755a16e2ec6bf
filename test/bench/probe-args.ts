/** The command line of the probes: `--name value` options and one positional checkpoint path. */
export function probeArgs(argv = process.argv.slice(2)): {
  opt(name: string): string | undefined;
  file: string | undefined;
} {
  return {
    opt: (name) => {
      const at = argv.indexOf(name);
      return at >= 0 ? argv[at + 1] : undefined;
    },
    file: argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--')),
  };
}
