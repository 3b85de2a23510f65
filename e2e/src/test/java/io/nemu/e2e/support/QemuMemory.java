package io.nemu.e2e.support;

import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;

/** QEMU's resident memory and its guest-RAM part (the memfd, RssShmem), in KiB, from /proc/PID/status. */
public record QemuMemory(long rssKib, long shmemKib) {

    /** Both figures of a running QEMU; throws if either is missing, so no comparison runs on a -1. */
    public static QemuMemory of(long pid) throws IOException {
        long rss = ProcessTools.procKib(pid, "status", "VmRSS");
        long shmem = ProcessTools.procKib(pid, "status", "RssShmem");
        if (rss < 0 || shmem < 0) {
            throw new IOException("no VmRSS or RssShmem in /proc/" + pid + "/status");
        }
        return new QemuMemory(rss, shmem);
    }

    @Override
    public String toString() {
        return String.format("QEMU RSS %d MiB (guest RAM part, RssShmem %d MiB)", rssKib / 1024, shmemKib / 1024);
    }
}
