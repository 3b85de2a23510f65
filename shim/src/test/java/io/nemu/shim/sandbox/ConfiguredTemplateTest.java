package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.network.PodNetworkTest;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.template.TemplateKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code nemu template}'s key is the one a pod of the default size with as many NICs looks up. */
class ConfiguredTemplateTest {
    @TempDir
    Path tmp;

    private RuntimeConfig config(String extra) throws Exception {
        Path kernel = Files.writeString(tmp.resolve("vmlinux"), "k");
        Path initrd = Files.writeString(tmp.resolve("i.img"), "i");
        Path src = tmp.resolve("configuration.toml");
        return new ConfigLoader(w -> { }).parse("[hypervisor.qemu]\nkernel = \"" + kernel + "\"\ninitrd = \"" + initrd
                + "\"\n" + extra, src, tmp);
    }

    /** The key of a pod's boot: VmSandbox's steps, its NICs those of a pod network (one veth, as CNI makes). */
    private static TemplateKey podKey(RuntimeConfig cfg, SandboxPaths pod, Map<String, String> annotations)
            throws Exception {
        SandboxVmConfig vm = SandboxVmConfig.of(cfg, pod, PodSizing.of(cfg.hypervisor(), annotations));
        PodNetworkTest.sampleNetwork().devices().forEach(vm.builder()::netDevice);
        return TemplateKey.of(vm.templated(), vm.imageId());
    }

    @Test
    void theCommandsKeyIsAPodsOfTheDefaultSize() throws Exception {
        RuntimeConfig cfg = config("default_vcpus = 2\ndefault_memory = 768\nkernel_params = \"quiet\"\n");
        ConfiguredTemplate ct = ConfiguredTemplate.of(cfg, tmp.resolve("cli-root"));
        TemplateKey pod = podKey(cfg, new SandboxPaths(tmp.resolve("shim-root"), "pod1"), Map.of());
        assertEquals(pod, ct.key(1), "same config, other run root and sandbox: same template");
        assertEquals("virt-2c-768m-1n", ct.key(1).shape());
        assertNotEquals(pod, ct.key(0), "NICs count");
        assertNotEquals(pod, ct.key(2));
        assertNotEquals(pod.name(), podKey(cfg, new SandboxPaths(tmp, "pod2"),
                Map.of(PodSizing.CRI_MEMORY, Long.toString(256L << 20))).name(), "a sized pod has its own");
        assertEquals(tmp.resolve("cli-root/templates"), ct.store().dir());
    }

    @Test
    void aChangedSettingGivesAnotherKeyAndNamesIt() throws Exception {
        ConfiguredTemplate before = ConfiguredTemplate.of(config("kernel_params = \"quiet\"\n"), tmp);
        ConfiguredTemplate after = ConfiguredTemplate.of(config("kernel_params = \"quiet debug\"\n"), tmp);
        assertNotEquals(before.key(1), after.key(1));
        assertEquals(before.key(1).shape(), after.key(1).shape());
        var stored = new io.nemu.vmm.template.StoredTemplate(tmp, 1, null, before.settings(1));
        assertEquals(java.util.List.of("kernelArgs"), stored.changedSettings(after.settings(1)));
    }

    @Test
    void aMissingKernelIsAClearError() throws Exception {
        RuntimeConfig cfg = config("");
        Files.delete(tmp.resolve("vmlinux"));
        Exception e = assertThrows(Exception.class, () -> ConfiguredTemplate.of(cfg, tmp).key(1));
        assertTrue(e.getMessage().contains("vmlinux"), e.getMessage());
        assertTrue(e instanceof IOException || e instanceof io.nemu.vmm.VmException, e.toString());
    }

    @Test
    void templatedIsTheSerialChannelWithoutFreePageReportingAndLeavesTheBootedOne() throws Exception {
        RuntimeConfig cfg = config("");
        assertTrue(cfg.hypervisor().reclaimGuestFreedMemory(), "the default reclaims");
        SandboxVmConfig vm = SandboxVmConfig.of(cfg, new SandboxPaths(tmp, "sb"), PodSizing.of(cfg.hypervisor(), Map.of()));
        VmConfig t = vm.templated();
        assertEquals(io.nemu.vmm.AgentTransport.SERIAL, t.agentTransport());
        assertFalse(t.freePageReporting(), "a clone's discards would punch the template's file");
        VmConfig booted = vm.builder().build();
        assertEquals(io.nemu.vmm.AgentTransport.VSOCK, booted.agentTransport());
        assertTrue(booted.freePageReporting());
    }
}
