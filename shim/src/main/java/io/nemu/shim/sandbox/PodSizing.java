package io.nemu.shim.sandbox;

import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.VmConfig;
import java.util.Map;

/**
 * The size a sandbox VM boots with. There is no hotplug on the {@code virt} profile, so the pod's limits
 * must be in the VM from the start: the base is the config's {@code default_vcpus}/{@code default_memory}
 * (or Kata's {@code io.katacontainers.config.hypervisor.default_vcpus}/{@code default_memory} annotations
 * where {@code enable_annotations} allows them); on {@code virt}, the pod's CPU quota and memory limit
 * that containerd's CRI plugin puts on the sandbox container ({@code io.kubernetes.cri.sandbox-*}) are
 * added on top, as Kata's static sizing does (the base is room for the guest kernel and the agent).
 * {@code virt-hotplug} keeps the base: the pod's share is to be hotplugged.
 *
 * @param vcpus      vCPUs at boot
 * @param memoryMib  guest RAM at boot, MiB
 * @param maxVcpus   hotplug ceiling (the config's; raised to {@code vcpus} when an annotation passes it)
 * @param maxMemoryMib hotplug ceiling of RAM (likewise; with {@code enable_virtio_mem} the room above
 *                   {@code memoryMib} in whole virtio-mem blocks, since an annotation may move the base)
 * @param why        where the figures came from, for the log
 */
public record PodSizing(int vcpus, int memoryMib, int maxVcpus, int maxMemoryMib, String why) {
    public static final String KATA_PREFIX = "io.katacontainers.config.hypervisor.";
    public static final String KATA_VCPUS = KATA_PREFIX + "default_vcpus";
    public static final String KATA_MEMORY = KATA_PREFIX + "default_memory";
    public static final String CRI_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
    public static final String CRI_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
    public static final String CRI_MEMORY = "io.kubernetes.cri.sandbox-memory";
    private static final int MAX_VCPUS = 255;
    private static final int MAX_MEMORY_MIB = 1024 * 1024;

    /** A sandbox annotation that cannot be used; the message names it. */
    public static final class BadAnnotation extends Exception {
        public BadAnnotation(String message) {
            super(message);
        }
    }

    /** The size for a sandbox whose first task's spec has these annotations. */
    public static PodSizing of(RuntimeConfig.Hypervisor h, Map<String, String> annotations) throws BadAnnotation {
        int vcpus = h.defaultVcpus();
        int memory = h.defaultMemoryMib();
        StringBuilder why = new StringBuilder("config default_vcpus=" + vcpus + " default_memory=" + memory);
        for (String key : annotations.keySet()) {
            if (key.startsWith(KATA_PREFIX) && !key.equals(KATA_VCPUS) && !key.equals(KATA_MEMORY)) {
                throw new BadAnnotation("annotation " + key + " is not supported by this runtime (only "
                        + KATA_VCPUS + " and " + KATA_MEMORY + ")");
            }
        }
        String v = annotations.get(KATA_VCPUS);
        if (v != null) {
            vcpus = (int) kataValue(h, KATA_VCPUS, v, 1, MAX_VCPUS);
            why.append(", annotation default_vcpus=").append(vcpus);
        }
        String m = annotations.get(KATA_MEMORY);
        if (m != null) {
            memory = (int) kataValue(h, KATA_MEMORY, m, 64, MAX_MEMORY_MIB);
            why.append(", annotation default_memory=").append(memory);
        }
        int maxVcpus = h.defaultMaxVcpus();
        int maxMemory = h.defaultMaxMemoryMib();
        if (!h.machineType().hotplug()) {
            long quota = criValue(annotations, CRI_CPU_QUOTA, -1);
            long period = criValue(annotations, CRI_CPU_PERIOD, 0);
            if (quota > 0 && period <= 0) {
                throw new BadAnnotation("annotation " + CRI_CPU_PERIOD + " must be > 0 with " + CRI_CPU_QUOTA
                        + " " + quota + ", got " + period);
            }
            if (quota > 0) {
                long pod = ContainerSizing.Share.vcpus(quota, period);
                if (vcpus + pod > MAX_VCPUS) {
                    throw new BadAnnotation("annotations " + CRI_CPU_QUOTA + "/" + CRI_CPU_PERIOD + " ask for "
                            + pod + " vCPUs: with the base " + vcpus + " more than " + MAX_VCPUS);
                }
                vcpus += (int) pod;
                why.append(", pod cpu ").append(quota).append('/').append(period).append(" +").append(pod);
            }
            long bytes = criValue(annotations, CRI_MEMORY, 0);
            if (bytes > 0) {
                long pod = ContainerSizing.Share.mib(bytes);
                if (memory + pod > MAX_MEMORY_MIB) {
                    throw new BadAnnotation("annotation " + CRI_MEMORY + " " + bytes + " bytes: with the base "
                            + memory + " MiB more than " + MAX_MEMORY_MIB + " MiB");
                }
                memory += (int) pod;
                why.append(", pod memory +").append(pod).append(" MiB");
            }
        } else {
            if (maxVcpus != 0 && vcpus > maxVcpus) {
                throw new BadAnnotation("annotation " + KATA_VCPUS + " " + vcpus + " is above default_maxvcpus "
                        + maxVcpus);
            }
            if (maxMemory != 0 && memory > maxMemory) {
                throw new BadAnnotation("annotation " + KATA_MEMORY + " " + memory + " is above default_maxmemory "
                        + maxMemory);
            }
        }
        if (h.enableVirtioMem() && maxMemory > memory) {
            int block = VmConfig.VIRTIO_MEM_BLOCK_MIB;
            maxMemory = memory + (maxMemory - memory) / block * block;
        }
        return new PodSizing(vcpus, memory, maxVcpus, maxMemory, why.toString());
    }

    /** Hot-added RAM through virtio-mem: {@code enable_virtio_mem}, and at least one block of room. */
    public boolean virtioMem(RuntimeConfig.Hypervisor h) {
        return h.enableVirtioMem() && maxMemoryMib > memoryMib;
    }

    private static long kataValue(RuntimeConfig.Hypervisor h, String key, String value, long min, long max)
            throws BadAnnotation {
        String name = key.substring(KATA_PREFIX.length());
        if (!h.annotationEnabled(name)) {
            throw new BadAnnotation("annotation " + key + " is not enabled: hypervisor.qemu.enable_annotations"
                    + " of the runtime's configuration.toml does not list '" + name + "'");
        }
        long n;
        try {
            n = Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            throw new BadAnnotation("annotation " + key + " must be an integer, got '" + value + "'");
        }
        if (n < min || n > max) {
            throw new BadAnnotation("annotation " + key + " must be " + min + ".." + max + ", got " + n);
        }
        return n;
    }

    private static long criValue(Map<String, String> annotations, String key, long absent) throws BadAnnotation {
        String v = annotations.get(key);
        if (v == null || v.isBlank()) {
            return absent;
        }
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new BadAnnotation("annotation " + key + " must be an integer, got '" + v + "'");
        }
    }
}
