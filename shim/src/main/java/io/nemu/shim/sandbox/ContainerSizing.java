package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How big a hotplug sandbox VM must be for its containers, by Kata's rules: the boot size (the base: room
 * for the guest kernel and the agent) plus each container's share, a container's vCPUs being its CPU
 * quota over its period rounded up and its memory its memory limit (a container without limits adds
 * nothing). The totals must stay within {@code default_maxvcpus} and {@code default_maxmemory}; a share
 * that would pass them is refused naming the key, and nothing is recorded for it.
 */
public final class ContainerSizing {
    private static final long MIB = 1 << 20;

    private final int baseVcpus;
    private final long baseMemoryMib;
    private final int maxVcpus;
    private final long maxMemoryMib;
    private final Map<String, Share> shares = new LinkedHashMap<>();

    /** A container's part of the VM: whole vCPUs and MiB. */
    public record Share(int vcpus, long memoryMib) {
        public static final Share NONE = new Share(0, 0);

        /** From OCI {@code linux.resources} (a missing node: no share). */
        public static Share of(JsonNode resources) {
            long quota = resources.path("cpu").path("quota").asLong(0);
            long period = resources.path("cpu").path("period").asLong(0);
            long limit = resources.path("memory").path("limit").asLong(0);
            return new Share((int) Math.min(Integer.MAX_VALUE, vcpus(quota, period)), mib(limit));
        }

        /** Kata's rule: whole vCPUs for a CPU quota over its period, rounded up; 0 without both. */
        static long vcpus(long quota, long period) {
            return quota > 0 && period > 0 ? (quota + period - 1) / period : 0;
        }

        /** A memory limit in bytes as whole MiB, rounded up; 0 without one. */
        static long mib(long bytes) {
            return bytes > 0 ? (bytes + MIB - 1) / MIB : 0;
        }
    }

    /** The VM's size for the containers it holds. */
    public record Total(int vcpus, long memoryMib) {
    }

    /** A share the configured maxima cannot hold; the message names the limit. */
    public static final class OverLimit extends Exception {
        public OverLimit(String message) {
            super(message);
        }
    }

    /** @param maxVcpus and {@code maxMemoryMib}: the VM's ceilings (its boot size when the config names none) */
    public ContainerSizing(int baseVcpus, long baseMemoryMib, int maxVcpus, long maxMemoryMib) {
        this.baseVcpus = baseVcpus;
        this.baseMemoryMib = baseMemoryMib;
        this.maxVcpus = Math.max(maxVcpus, baseVcpus);
        this.maxMemoryMib = Math.max(maxMemoryMib, baseMemoryMib);
    }

    public long baseMemoryMib() {
        return baseMemoryMib;
    }

    public synchronized Total total() {
        int v = baseVcpus;
        long m = baseMemoryMib;
        for (Share s : shares.values()) {
            v += s.vcpus();
            m += s.memoryMib();
        }
        return new Total(v, m);
    }

    /** The total if {@code cid} had {@code share} (instead of what it has); nothing is recorded. */
    public synchronized Total totalWith(String cid, Share share) throws OverLimit {
        Share old = shares.getOrDefault(cid, Share.NONE);
        Total now = total();
        Total t = new Total(now.vcpus() - old.vcpus() + share.vcpus(), now.memoryMib() - old.memoryMib() + share.memoryMib());
        if (t.vcpus() > maxVcpus) {
            throw new OverLimit("container " + cid + " asks for " + share.vcpus() + " vCPUs: the sandbox would need "
                    + t.vcpus() + ", above default_maxvcpus " + maxVcpus);
        }
        if (t.memoryMib() > maxMemoryMib) {
            throw new OverLimit("container " + cid + " asks for " + share.memoryMib() + " MiB: the sandbox would need "
                    + t.memoryMib() + " MiB, above default_maxmemory " + maxMemoryMib + " MiB");
        }
        return t;
    }

    public synchronized void set(String cid, Share share) {
        if (share.equals(Share.NONE)) {
            shares.remove(cid);
        } else {
            shares.put(cid, share);
        }
    }

    public synchronized Share remove(String cid) {
        Share s = shares.remove(cid);
        return s == null ? Share.NONE : s;
    }

    public synchronized Share of(String cid) {
        return shares.getOrDefault(cid, Share.NONE);
    }
}
