package io.nemu.shim.agent;

/** The stdio containerd hands a process: fifo paths (empty when absent) and whether it has a terminal. */
public record Stdio(String stdin, String stdout, String stderr, boolean terminal) {
    public Stdio {
        stdin = stdin == null ? "" : stdin;
        stdout = stdout == null ? "" : stdout;
        stderr = stderr == null ? "" : stderr;
    }
}
