package io.nemu.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.Accelerator;
import io.nemu.vmm.CacheMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    private final List<String> warnings = new ArrayList<>();
    private final ConfigLoader loader = new ConfigLoader(warnings::add);
    private static final Path SRC = Path.of("/etc/nemu/configuration.toml");
    private static final String MINIMAL = """
            [hypervisor.qemu]
            kernel = "/g/vmlinux"
            initrd = "/g/initramfs.img"
            """;

    private RuntimeConfig parse(String toml) throws ConfigException {
        return loader.parse(toml, SRC, SRC.getParent());
    }

    private ConfigException fails(String toml) {
        return assertThrows(ConfigException.class, () -> parse(toml));
    }

    @Test
    void defaultsOfAMinimalFile() throws Exception {
        RuntimeConfig c = parse(MINIMAL);
        assertEquals(Path.of("/usr/bin/qemu-system-x86_64"), c.hypervisor().path());
        assertEquals("virt", c.hypervisor().machineType().name());
        assertEquals(1, c.hypervisor().defaultVcpus());
        assertEquals(512, c.hypervisor().defaultMemoryMib());
        assertEquals(RuntimeConfig.SharedFs.VIRTIO_FS, c.hypervisor().sharedFs());
        assertEquals(CacheMode.AUTO, c.hypervisor().virtioFsCache());
        assertEquals(Accelerator.AUTO, c.hypervisor().accelerator());
        assertEquals(Duration.ofSeconds(45), c.agent().dialTimeout());
        assertEquals(Duration.ofSeconds(10), c.agent().healthCheckInterval());
        assertEquals(Duration.ofSeconds(30), c.agent().healthCheckTimeout());
        assertEquals("tcfilter", c.runtime().internetworkingModel());
        assertTrue(c.hypervisor().reclaimGuestFreedMemory(), "free page reporting is on unless turned off");
        assertFalse(c.debug());
        assertTrue(warnings.isEmpty(), warnings::toString);
    }

    @Test
    void agentDebugAndDebugConsoleAreKatasKeysOffByDefault() throws Exception {
        RuntimeConfig off = parse(MINIMAL);
        assertFalse(off.agent().enableDebug());
        assertFalse(off.agent().debugConsoleEnabled());
        RuntimeConfig on = parse(MINIMAL + "[agent.kata]\nenable_debug = true\ndebug_console_enabled = true\n");
        assertTrue(on.agent().enableDebug());
        assertTrue(on.agent().debugConsoleEnabled());
        assertTrue(warnings.isEmpty(), warnings::toString);
        String bad = refused(MINIMAL + "[agent.kata]\ndebug_console_enabled = \"yes\"\n", "agent.kata.debug_console_enabled");
        assertTrue(bad.contains("debug_console_enabled"), bad);
    }

    @Test
    void imageIsKatasKeyAndExcludesInitrd() throws Exception {
        RuntimeConfig.Hypervisor h = parse("[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\nimage = \"root.img\"\n"
                + "initrd = \"\"\n").hypervisor();
        assertEquals(SRC.getParent().resolve("root.img"), h.image());
        assertEquals(null, h.initrd());
        assertEquals(null, parse(MINIMAL + "image = \"\"\n").hypervisor().image(), "empty image: the initramfs root");
        assertTrue(fails(MINIMAL + "image = \"/g/root.img\"\n").getMessage().contains("not both"));
        assertEquals("hypervisor.qemu.image", fails("[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\n").key());
    }

    @Test
    void reclaimGuestFreedMemoryIsKatasKey() throws Exception {
        assertFalse(parse(MINIMAL + "reclaim_guest_freed_memory = false\n").hypervisor().reclaimGuestFreedMemory());
        assertTrue(parse(MINIMAL + "reclaim_guest_freed_memory = true\n").hypervisor().reclaimGuestFreedMemory());
        assertTrue(warnings.isEmpty(), warnings::toString);
        ConfigException e = fails(MINIMAL + "reclaim_guest_freed_memory = \"on\"\n");
        assertEquals("hypervisor.qemu.reclaim_guest_freed_memory", e.key());
        assertTrue(e.getMessage().contains("must be true or false"), e.getMessage());
    }

    @Test
    void tcgTbSizeBoundsTheCodeCache() throws Exception {
        assertEquals(ConfigLoader.DEFAULT_TCG_TB_SIZE_MIB, parse(MINIMAL).hypervisor().tcgTbSizeMib());
        assertEquals(48, parse(MINIMAL + "tcg_tb_size = 48\n").hypervisor().tcgTbSizeMib());
        assertEquals(0, parse(MINIMAL + "tcg_tb_size = 0\n").hypervisor().tcgTbSizeMib(), "0: QEMU's own default");
        assertTrue(warnings.isEmpty(), warnings::toString);
        for (String bad : List.of("tcg_tb_size = -1", "tcg_tb_size = 2048", "tcg_tb_size = \"64M\"")) {
            assertEquals("hypervisor.qemu.tcg_tb_size", fails(MINIMAL + bad + "\n").key(), bad);
        }
    }

    @Test
    void theShippedConfigurationLoads() throws Exception {
        Path shipped = Path.of("../packaging/src/main/dist/share/defaults/configuration.toml");
        RuntimeConfig c = loader.parse(Files.readString(shipped), shipped, shipped.getParent());
        assertEquals(ConfigLoader.DEFAULT_TCG_TB_SIZE_MIB, c.hypervisor().tcgTbSizeMib(),
                "the file and the code agree on the default");
        assertTrue(warnings.isEmpty(), warnings::toString);
    }

    @Test
    void kataKeysAreRead() throws Exception {
        RuntimeConfig c = parse("""
                [hypervisor.qemu]
                path = "/opt/qemu/bin/qemu-system-x86_64"
                kernel = "/g/vmlinux"
                initrd = "/g/initramfs.img"
                machine_type = "virt-hotplug"
                kernel_params = " quiet  nemu.cgroup=v1 "
                default_vcpus = 2
                default_maxvcpus = 4
                default_memory = 1024
                memory_slots = 4
                default_maxmemory = 4096
                pcie_root_port = 2
                shared_fs = "virtio-fs"
                virtio_fs_daemon = "/usr/libexec/virtiofsd"
                virtio_fs_cache = "never"
                accelerator = "tcg"
                enable_debug = true

                [agent.kata]
                dial_timeout = 10
                health_check_interval = 2
                health_check_timeout = 7
                debug = false

                [runtime]
                enable_debug = true
                internetworking_model = "tcfilter"
                sandbox_cgroup_only = false
                disable_new_netns = false
                """);
        RuntimeConfig.Hypervisor h = c.hypervisor();
        assertEquals("virt-hotplug", h.machineType().name());
        assertEquals(List.of("quiet", "nemu.cgroup=v1"), h.kernelParams());
        assertEquals(2, h.defaultVcpus());
        assertEquals(4, h.defaultMaxVcpus());
        assertEquals(1024, h.defaultMemoryMib());
        assertEquals(4, h.memorySlots());
        assertEquals(4096, h.defaultMaxMemoryMib());
        assertEquals(2, h.pcieRootPorts());
        assertEquals(Path.of("/usr/libexec/virtiofsd"), h.virtioFsDaemon());
        assertEquals(CacheMode.NONE, h.virtioFsCache());
        assertEquals(Accelerator.TCG, h.accelerator());
        assertEquals(Duration.ofSeconds(10), c.agent().dialTimeout());
        assertEquals(Duration.ofSeconds(2), c.agent().healthCheckInterval());
        assertEquals(Duration.ofSeconds(7), c.agent().healthCheckTimeout());
        assertTrue(c.runtime().enableDebug());
        assertTrue(c.hypervisor().enableDebug());
        assertTrue(c.debug());
        assertFalse(c.runtime().sandboxCgroupOnly());
        assertTrue(warnings.isEmpty(), warnings::toString);
    }

    @Test
    void sandboxCgroupOnlyIsOnUnlessTheFileSaysFalse() throws Exception {
        assertTrue(parse(MINIMAL).runtime().sandboxCgroupOnly(), "Kata's key, on by default here");
        assertTrue(parse(MINIMAL + "[runtime]\nsandbox_cgroup_only = true\n").runtime().sandboxCgroupOnly());
        assertEquals("runtime.sandbox_cgroup_only", fails(MINIMAL + "[runtime]\nsandbox_cgroup_only = 1\n").key());
    }

    @Test
    void relativePathsAreTakenFromTheFilesFolder(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("share/defaults/configuration.toml");
        Files.createDirectories(file.getParent());
        Files.writeString(file, """
                [hypervisor.qemu]
                kernel = "../guest/vmlinux"
                initrd = "../guest/initramfs.img"
                """);
        RuntimeConfig c = loader.load(file);
        assertEquals(dir.resolve("share/guest/vmlinux"), c.hypervisor().kernel());
        assertEquals(dir.resolve("share/guest/initramfs.img"), c.hypervisor().initrd());
    }

    @Test
    void unknownKeysAndSectionsAreWarnedNotFatal() throws Exception {
        parse(MINIMAL + """
                disable_vhost_net = true
                [hypervisor.clh]
                path = "x"
                [agent.kata]
                enable_tracing = false
                [factory]
                enable_template = false
                vm_cache_number = 2
                """);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("hypervisor.qemu.disable_vhost_net")), warnings::toString);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("[hypervisor.clh]")), warnings::toString);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("agent.kata.enable_tracing")), warnings::toString);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("factory.vm_cache_number")), warnings::toString);
    }

    @Test
    void factoryKeysAreKatas() throws Exception {
        RuntimeConfig off = parse(MINIMAL);
        assertFalse(off.factory().enableTemplate());
        assertNull(off.factory().templatePath());
        RuntimeConfig on = parse(MINIMAL + """
                [factory]
                enable_template = true
                template_path = "/run/vc/vm/template"
                """);
        assertTrue(on.factory().enableTemplate());
        assertEquals(Path.of("/run/vc/vm/template"), on.factory().templatePath());
        assertEquals("factory.enable_template", fails(MINIMAL + "[factory]\nenable_template = \"yes\"\n").key());
        // Ours: a clone's code cache bound.
        assertEquals(ConfigLoader.DEFAULT_CLONE_TCG_TB_SIZE_MIB, off.factory().cloneTcgTbSizeMib());
        assertEquals(24, parse(MINIMAL + "[factory]\nclone_tcg_tb_size = 24\n").factory().cloneTcgTbSizeMib());
        for (String bad : List.of("clone_tcg_tb_size = -1", "clone_tcg_tb_size = 4096", "clone_tcg_tb_size = \"16M\"")) {
            assertEquals("factory.clone_tcg_tb_size", fails(MINIMAL + "[factory]\n" + bad + "\n").key(), bad);
        }
    }

    @Test
    void wrongValuesNameTheKey() {
        assertEquals("hypervisor.qemu.default_vcpus",
                fails(MINIMAL + "default_vcpus = \"two\"\n").key());
        assertTrue(fails(MINIMAL + "default_vcpus = 0\n").getMessage()
                .contains("hypervisor.qemu.default_vcpus must be 1..255, got 0"));
        assertEquals("hypervisor.qemu.machine_type", fails(MINIMAL + "machine_type = \"pc\"\n").key());
        assertEquals("hypervisor.qemu.virtio_fs_cache", fails(MINIMAL + "virtio_fs_cache = \"sometimes\"\n").key());
        assertEquals("hypervisor.qemu.default_memory", fails(MINIMAL + "default_memory = 16\n").key());
        assertEquals("hypervisor.qemu.enable_debug", fails(MINIMAL + "enable_debug = \"yes\"\n").key());
        assertEquals("hypervisor.qemu.image", fails(MINIMAL + "image = \"/g/rootfs.img\"\n").key());
        assertEquals("agent.kata.dial_timeout", fails(MINIMAL + "[agent.kata]\ndial_timeout = -1\n").key());
        assertEquals("runtime.internetworking_model",
                fails(MINIMAL + "[runtime]\ninternetworking_model = \"bridged\"\n").key());
        assertEquals("hypervisor.qemu.kernel", fails("[hypervisor.qemu]\ninitrd = \"/i\"\n").key());
        assertEquals("hypervisor.qemu", fails("[runtime]\n").key());
    }

    @Test
    void hotplugCeilingsAreChecked() {
        String hp = MINIMAL + "machine_type = \"virt-hotplug\"\ndefault_vcpus = 4\n";
        assertEquals("hypervisor.qemu.default_maxvcpus", fails(hp + "default_maxvcpus = 2\n").key());
        assertEquals("hypervisor.qemu.memory_slots", fails(hp + "default_maxmemory = 4096\n").key());
    }

    @Test
    void virtioMemTakesTheRoomAboveTheBootRamWithoutSlots() throws Exception {
        String hp = MINIMAL + "machine_type = \"virt-hotplug\"\ndefault_memory = 256\nenable_virtio_mem = true\n";
        RuntimeConfig.Hypervisor h = parse(hp + "default_maxmemory = 1792\n").hypervisor();
        assertTrue(h.enableVirtioMem());
        assertEquals(0, h.memorySlots());
        assertEquals(1792, h.defaultMaxMemoryMib());
        ConfigException none = fails(hp);
        assertEquals("hypervisor.qemu.enable_virtio_mem", none.key());
        assertTrue(none.getMessage().contains("needs default_maxmemory above default_memory"), none.getMessage());
        assertEquals("hypervisor.qemu.default_maxmemory", fails(hp + "default_maxmemory = 1793\n").key());
        assertFalse(parse(MINIMAL + "enable_virtio_mem = true\n").hypervisor().enableVirtioMem(), "virt has no PCI");
        assertTrue(warnings.stream().anyMatch(w -> w.contains("enable_virtio_mem is ignored")), warnings::toString);
    }

    @Test
    void virtIgnoresHotplugKeysWithAWarning() throws Exception {
        RuntimeConfig c = parse(MINIMAL + "default_maxvcpus = 8\nmemory_slots = 10\n");
        assertEquals(0, c.hypervisor().memorySlots());
        assertEquals(1, warnings.size(), warnings::toString);
    }

    @Test
    void brokenTomlAndMissingFile(@TempDir Path dir) {
        ConfigException bad = fails("[hypervisor.qemu\nkernel=");
        assertTrue(bad.getMessage().contains("not valid TOML"), bad.getMessage());
        ConfigException missing = assertThrows(ConfigException.class, () -> loader.load(dir.resolve("nope.toml")));
        assertTrue(missing.getMessage().contains("nope.toml does not exist"), missing.getMessage());
    }

    @Test
    void locateOrder() throws Exception {
        assertEquals(Path.of("/a.toml"), ConfigLoader.locate("/a.toml", Map.of("NEMU_CONF_FILE", "/b.toml")));
        assertEquals(Path.of("/b.toml"), ConfigLoader.locate("", Map.of("NEMU_CONF_FILE", "/b.toml", "NEMU_HOME", "/n")));
        assertEquals(Path.of("/n/share/defaults/configuration.toml"), ConfigLoader.locate(null, Map.of("NEMU_HOME", "/n")));
        assertThrows(ConfigException.class, () -> ConfigLoader.locate(null, Map.of()));
    }

    @Test
    void enableAnnotationsAreRegularExpressions() throws Exception {
        RuntimeConfig c = parse(MINIMAL + "enable_annotations = [\"default_vcpus\", \"default_mem.*\"]\n");
        assertTrue(c.hypervisor().annotationEnabled("default_vcpus"));
        assertTrue(c.hypervisor().annotationEnabled("default_memory"));
        assertFalse(c.hypervisor().annotationEnabled("kernel_params"));
        assertFalse(parse(MINIMAL).hypervisor().annotationEnabled("default_vcpus"));
        assertEquals("hypervisor.qemu.enable_annotations", fails(MINIMAL + "enable_annotations = \"default_vcpus\"\n").key());
        assertTrue(fails(MINIMAL + "enable_annotations = [1]\n").getMessage()
                .endsWith("hypervisor.qemu.enable_annotations must be an array of strings, has the number 1"));
        assertTrue(fails(MINIMAL + "enable_annotations = [\"default_(\"]\n").getMessage()
                .contains("hypervisor.qemu.enable_annotations entry 'default_(' is not a regular expression"));
    }

    private String refused(String toml, String key) {
        ConfigException e = fails(toml);
        assertEquals(key, e.key(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void keysThatWouldDoNothingAreRefusedNamingKeyAndValue() {
        String model = refused(MINIMAL + "[runtime]\ninternetworking_model = \"macvtap\"\n", "runtime.internetworking_model");
        assertTrue(model.contains("runtime.internetworking_model 'macvtap' is not supported by this runtime (yet)"), model);
        assertTrue(refused(MINIMAL + "[runtime]\ninternetworking_model = \"none\"\n", "runtime.internetworking_model")
                .contains("'none' is not supported"));
        String netns = refused(MINIMAL + "[runtime]\ndisable_new_netns = true\n", "runtime.disable_new_netns");
        assertTrue(netns.contains("runtime.disable_new_netns = true is not supported by this runtime (yet)"), netns);
        String agentDebug = refused(MINIMAL + "[agent.kata]\ndebug = true\n", "agent.kata.debug");
        assertTrue(agentDebug.contains("agent.kata.debug = true is not supported")
                && agentDebug.contains("[agent.kata] enable_debug"), agentDebug);
        assertEquals("runtime.disable_new_netns", fails(MINIMAL + "[runtime]\ndisable_new_netns = \"no\"\n").key());
        assertTrue(warnings.isEmpty(), warnings::toString);
    }

    @Test
    void agentSocketIsNotAConfigurationKey() {
        String m = refused(MINIMAL + "[agent.kata]\nagent_socket = \"/run/dev-agent.sock\"\n", "agent.kata.agent_socket");
        assertTrue(m.contains("agent.kata.agent_socket is not a configuration key"), m);
    }
}
