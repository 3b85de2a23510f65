package io.nemu.shim.sandbox;

import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A recorded process: its pid and its start time (clock ticks after boot, field 22 of {@code /proc/PID/stat}).
 * Pids are reused; the pair is not, so {@code delete} after a crash can tell the process it recorded from one
 * that merely got the same pid since.
 */
public record PidFile(long pid, long startTicks) {
    /** The record of a running process. */
    public static PidFile of(long pid) throws IOException {
        return new PidFile(pid, startTicks(pid).orElseThrow(() -> new IOException("process " + pid + " is not running")));
    }

    public void write(Path file) throws IOException {
        Files.writeString(file, pid + " " + startTicks + "\n");
    }

    /** The record in {@code file}, or empty when there is none or it is not one. */
    public static Optional<PidFile> read(Path file) {
        try {
            String[] f = Files.readString(file).strip().split("\\s+");
            return f.length == 2 ? Optional.of(new PidFile(Long.parseLong(f[0]), Long.parseLong(f[1])))
                    : Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Whether the recorded process itself still runs (same pid, same start time). */
    public boolean runs() {
        return startTicks(pid).equals(OptionalLong.of(startTicks));
    }

    static OptionalLong startTicks(long pid) {
        try {
            return OptionalLong.of(Long.parseLong(ProcessTools.statFields(pid)[19])); // field 22: starttime
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }
}
