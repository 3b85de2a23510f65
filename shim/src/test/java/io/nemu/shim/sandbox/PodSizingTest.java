package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodSizingTest {

    /** A [hypervisor.qemu] of 1 vCPU / 512 MiB (4 / 4096 MiB ceilings on virt-hotplug) read by the real loader. */
    static RuntimeConfig.Hypervisor hypervisor(String machine, List<String> enabled) throws Exception {
        StringBuilder toml = new StringBuilder("[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\ninitrd = \"/g/initramfs.img\"\n"
                + "machine_type = \"" + machine + "\"\n");
        if (machine.equals("virt-hotplug")) {
            toml.append("default_maxvcpus = 4\ndefault_maxmemory = 4096\nmemory_slots = 4\n");
        }
        toml.append("enable_annotations = [");
        for (int i = 0; i < enabled.size(); i++) {
            toml.append(i == 0 ? "" : ", ").append('"').append(enabled.get(i)).append('"');
        }
        toml.append("]\n");
        Path src = Path.of("/etc/nemu/configuration.toml");
        return new ConfigLoader(w -> { }).parse(toml.toString(), src, src.getParent()).hypervisor();
    }

    private static String fails(RuntimeConfig.Hypervisor h, Map<String, String> a) {
        return assertThrows(PodSizing.BadAnnotation.class, () -> PodSizing.of(h, a)).getMessage();
    }

    @Test
    void virtioMemRoomIsWholeBlocksAboveAnAnnotatedBase() throws Exception {
        String toml = "[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\ninitrd = \"/g/initramfs.img\"\n"
                + "machine_type = \"virt-hotplug\"\ndefault_maxmemory = 2048\nenable_virtio_mem = true\n"
                + "enable_annotations = [\"default_memory\"]\n";
        Path src = Path.of("/etc/nemu/configuration.toml");
        RuntimeConfig.Hypervisor h = new ConfigLoader(w -> { }).parse(toml, src, src.getParent()).hypervisor();
        PodSizing s = PodSizing.of(h, Map.of(PodSizing.KATA_MEMORY, "601"));
        assertEquals(2047, s.maxMemoryMib(), "1446 MiB of room above 601, in 2 MiB blocks");
        assertTrue(s.virtioMem(h));
        PodSizing none = PodSizing.of(h, Map.of(PodSizing.KATA_MEMORY, "2047"));
        assertEquals(2047, none.maxMemoryMib(), "1 MiB of room is no block");
        assertFalse(none.virtioMem(h));
    }

    @Test
    void configDefaultsWithoutAnnotations() throws Exception {
        PodSizing s = PodSizing.of(hypervisor("virt", List.of()), Map.of("io.kubernetes.cri.container-type", "sandbox"));
        assertEquals(1, s.vcpus());
        assertEquals(512, s.memoryMib());
    }

    @Test
    void podLimitsAreAddedOnVirt() throws Exception {
        PodSizing s = PodSizing.of(hypervisor("virt", List.of()), Map.of(PodSizing.CRI_CPU_QUOTA, "250000",
                PodSizing.CRI_CPU_PERIOD, "100000", PodSizing.CRI_MEMORY, "1073741825"));
        assertEquals(1 + 3, s.vcpus());
        assertEquals(512 + 1025, s.memoryMib(), "a byte over 1 GiB takes one more MiB");
        // CRI writes quota 0 / memory 0 when the pod has no limits: the defaults stay.
        s = PodSizing.of(hypervisor("virt", List.of()), Map.of(PodSizing.CRI_CPU_QUOTA, "0", PodSizing.CRI_CPU_PERIOD,
                "0", PodSizing.CRI_MEMORY, "0", "io.kubernetes.cri.sandbox-cpu-shares", "2"));
        assertEquals(1, s.vcpus());
        assertEquals(512, s.memoryMib());
    }

    @Test
    void kataAnnotationsReplaceTheBaseWhenEnabled() throws Exception {
        RuntimeConfig.Hypervisor h = hypervisor("virt", List.of("default_vcpus", "default_memory"));
        PodSizing s = PodSizing.of(h, Map.of(PodSizing.KATA_VCPUS, "2", PodSizing.KATA_MEMORY, "1024",
                PodSizing.CRI_MEMORY, "134217728"));
        assertEquals(2, s.vcpus());
        assertEquals(1024 + 128, s.memoryMib());
        // Kata's entries are regular expressions.
        s = PodSizing.of(hypervisor("virt", List.of("default_.*")), Map.of(PodSizing.KATA_MEMORY, "256"));
        assertEquals(256, s.memoryMib());
    }

    @Test
    void virtHotplugKeepsTheBase() throws Exception {
        RuntimeConfig.Hypervisor h = hypervisor("virt-hotplug", List.of("default_vcpus"));
        PodSizing s = PodSizing.of(h, Map.of(PodSizing.CRI_CPU_QUOTA, "400000", PodSizing.CRI_CPU_PERIOD, "100000",
                PodSizing.CRI_MEMORY, "1073741824", PodSizing.KATA_VCPUS, "2"));
        assertEquals(2, s.vcpus());
        assertEquals(512, s.memoryMib());
        assertEquals(4, s.maxVcpus());
        assertEquals(4096, s.maxMemoryMib());
        assertEquals("annotation io.katacontainers.config.hypervisor.default_vcpus 5 is above default_maxvcpus 4",
                fails(h, Map.of(PodSizing.KATA_VCPUS, "5")));
    }

    @Test
    void badAnnotationsAreNamed() throws Exception {
        RuntimeConfig.Hypervisor off = hypervisor("virt", List.of());
        assertEquals("annotation io.katacontainers.config.hypervisor.default_memory is not enabled:"
                + " hypervisor.qemu.enable_annotations of the runtime's configuration.toml does not list"
                + " 'default_memory'", fails(off, Map.of(PodSizing.KATA_MEMORY, "1024")));
        RuntimeConfig.Hypervisor on = hypervisor("virt", List.of("default_vcpus", "default_memory"));
        assertEquals("annotation io.katacontainers.config.hypervisor.default_vcpus must be an integer, got 'two'",
                fails(on, Map.of(PodSizing.KATA_VCPUS, "two")));
        assertEquals("annotation io.katacontainers.config.hypervisor.default_memory must be 64..1048576, got 16",
                fails(on, Map.of(PodSizing.KATA_MEMORY, "16")));
        assertEquals("annotation io.katacontainers.config.hypervisor.kernel_params is not supported by this runtime"
                + " (only io.katacontainers.config.hypervisor.default_vcpus and"
                + " io.katacontainers.config.hypervisor.default_memory)",
                fails(on, Map.of("io.katacontainers.config.hypervisor.kernel_params", "quiet")));
        assertEquals("annotation io.kubernetes.cri.sandbox-memory must be an integer, got '1Gi'",
                fails(on, Map.of(PodSizing.CRI_MEMORY, "1Gi")));
        assertEquals("annotation io.kubernetes.cri.sandbox-cpu-period must be > 0 with"
                + " io.kubernetes.cri.sandbox-cpu-quota 50000, got 0",
                fails(on, Map.of(PodSizing.CRI_CPU_QUOTA, "50000", PodSizing.CRI_CPU_PERIOD, "0")));
        assertEquals("annotations io.kubernetes.cri.sandbox-cpu-quota/io.kubernetes.cri.sandbox-cpu-period ask for"
                + " 300 vCPUs: with the base 1 more than 255",
                fails(on, Map.of(PodSizing.CRI_CPU_QUOTA, "30000000", PodSizing.CRI_CPU_PERIOD, "100000")));
    }
}
