package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.Storage;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SandboxTemplateTest {
    @TempDir
    Path tmp;

    private static RuntimeConfig config(String extra) throws Exception {
        Path src = Path.of("/etc/nemu/configuration.toml");
        return new ConfigLoader(w -> { }).parse("[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\ninitrd = \"/g/i.img\"\n"
                + extra, src, src.getParent());
    }

    @Test
    void onlySandboxesWithASharedFolderAreCloned() throws Exception {
        assertNull(SandboxTemplate.unclonable(config("").hypervisor()));
        assertEquals("shared_fs = none", SandboxTemplate.unclonable(config("shared_fs = \"none\"\n").hypervisor()));
        assertTrue(SandboxTemplate.unclonable(config("machine_type = \"virt-hotplug\"\ndefault_maxmemory = 1024\n"
                + "enable_virtio_mem = true\n").hypervisor()).startsWith("enable_virtio_mem"));
    }

    @Test
    void theStoreIsTemplatePathElseTheRunRoots() throws Exception {
        SandboxPaths paths = new SandboxPaths(tmp, "sb1");
        assertEquals(tmp.resolve("templates"), SandboxTemplate.store(config(""), paths).dir());
        assertEquals(Path.of("/dev/shm/t"), SandboxTemplate.store(config("[factory]\nenable_template = true\n"
                + "template_path = \"/dev/shm/t\"\n"), paths).dir());
    }

    @Test
    void aCloneMountsTheSharedFolderBy9pWithItsDrivers() {
        Storage s = SandboxTemplate.guestStorage();
        assertEquals("9p", s.getDriver());
        assertEquals(GuestContract.SHARED_FS_TAG, s.getSource());
        assertEquals(GuestContract.SHARED_DIR, s.getMountPoint());
        assertTrue(s.getOptionsList().containsAll(List.of("trans=virtio", "version=9p2000.L")), s.toString());
        assertEquals(List.of("9pnet_virtio", "9p"), SandboxTemplate.modules().stream().map(m -> m.getName()).toList());
    }

    @Test
    void aTemplateThatCannotBeMadeMeansBootingNormally() throws Exception {
        // The kernel does not exist: the key cannot be made, so no clone config (and nothing is started).
        VmConfig booted = VmConfig.builder().profile(MachineProfile.virt()).kernel(tmp.resolve("missing-vmlinux"))
                .runDir(tmp.resolve("run")).build();
        assertTrue(SandboxTemplate.cloneOf("sb1", new io.nemu.vmm.template.TemplateStore(tmp.resolve("t")), booted,
                "img", 0).isEmpty());
        assertTrue(!Files.exists(tmp.resolve("t")) || Files.list(tmp.resolve("t")).findAny().isEmpty());
    }

    @Test
    void aClonesCodeCacheBoundIsItsOwnAndOneTemplateServesEveryBound() throws Exception {
        Path kernel = Files.writeString(tmp.resolve("vmlinux"), "k");
        VmConfig templated = VmConfig.builder().profile(MachineProfile.virt()).kernel(kernel).tcgTbSizeMib(48)
                .runDir(tmp.resolve("run")).build();
        io.nemu.vmm.template.TemplateStore store = new io.nemu.vmm.template.TemplateStore(tmp.resolve("t"));
        // A template of this key, as a build leaves it (its memory and state files).
        Path dir = Files.createDirectories(store.dir().resolve(io.nemu.vmm.template.TemplateKey.of(templated, "img").name()));
        Files.writeString(dir.resolve("memory"), "");
        Files.writeString(dir.resolve("state"), "");
        VmConfig small = SandboxTemplate.cloneOf("sb1", store, templated, "img", 16).orElseThrow();
        assertEquals(16, small.tcgTbSizeMib());
        assertTrue(small.templating() instanceof io.nemu.vmm.template.Templating.Clone, small.toString());
        assertEquals(48, SandboxTemplate.cloneOf("sb2", store, templated, "img", 0).orElseThrow().tcgTbSizeMib(),
                "0: the configured bound");
        assertEquals(List.of(dir.getFileName().toString()), Files.list(store.dir()).map(p -> p.getFileName().toString())
                .toList(), "no other template was built or removed");
    }
}
