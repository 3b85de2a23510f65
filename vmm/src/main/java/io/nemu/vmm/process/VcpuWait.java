package io.nemu.vmm.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * How long a VM wanted a host CPU and did not get one: the run-queue delay of QEMU's vCPU threads (the second
 * figure of {@code /proc/PID/task/TID/schedstat}, nanoseconds spent runnable but waiting). On a loaded host a
 * healthy guest boots slowly only by this much; a guest that is stuck (halted vCPUs) waits for nothing.
 */
public final class VcpuWait {
    private VcpuWait() {
    }

    /**
     * The smallest run-queue delay among QEMU's vCPU threads (named {@code CPU n/TCG} or {@code CPU n/KVM}): the
     * starvation of the VM's least starved vCPU, so time it did get on any vCPU is never taken for waiting.
     * Zero when the process, its vCPU threads or schedstat are not there.
     */
    public static Duration of(long qemuPid) {
        Path tasks = Path.of("/proc", Long.toString(qemuPid), "task");
        long least = -1;
        try (Stream<Path> s = Files.list(tasks)) {
            for (Path task : (Iterable<Path>) s::iterator) {
                long wait = vcpuWaitNanos(task);
                if (wait >= 0 && (least < 0 || wait < least)) {
                    least = wait;
                }
            }
        } catch (IOException | RuntimeException gone) {
            return Duration.ZERO;
        }
        return Duration.ofNanos(Math.max(0, least));
    }

    /** The thread's run-queue delay if it is a vCPU thread, else -1. */
    private static long vcpuWaitNanos(Path task) {
        try {
            String comm = Files.readString(task.resolve("comm"), StandardCharsets.ISO_8859_1).strip();
            if (!isVcpu(comm)) {
                return -1;
            }
            return runQueueNanos(Files.readString(task.resolve("schedstat"), StandardCharsets.ISO_8859_1));
        } catch (IOException | RuntimeException gone) {
            return -1;
        }
    }

    static boolean isVcpu(String comm) {
        return comm.startsWith("CPU ") && (comm.endsWith("/TCG") || comm.endsWith("/KVM"));
    }

    /** The second field of a schedstat line: {@code <on-cpu ns> <run-queue ns> <timeslices>}. */
    static long runQueueNanos(String schedstat) {
        String[] f = schedstat.strip().split("\\s+");
        return Long.parseLong(f[1]);
    }
}
