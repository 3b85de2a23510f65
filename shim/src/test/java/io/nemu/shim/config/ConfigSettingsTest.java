package io.nemu.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Where each value came from, as {@code nemu env} shows it. */
class ConfigSettingsTest {
    @Test
    void eachKeyReadSaysFileOrDefault() throws Exception {
        ConfigLoader loader = new ConfigLoader(w -> { });
        loader.parse("[hypervisor.qemu]\nkernel = \"vmlinux\"\ninitrd = \"/i\"\ndefault_memory = 1024\n"
                + "[runtime]\nenable_debug = true\n", Path.of("/etc/nemu/c.toml"), Path.of("/etc/nemu"));
        Map<String, ConfigLoader.Setting> s = loader.settings().stream()
                .collect(Collectors.toMap(ConfigLoader.Setting::key, x -> x));
        assertEquals(new ConfigLoader.Setting("hypervisor.qemu.kernel", "/etc/nemu/vmlinux", true), s.get("hypervisor.qemu.kernel"));
        assertEquals(new ConfigLoader.Setting("hypervisor.qemu.default_memory", "1024", true), s.get("hypervisor.qemu.default_memory"));
        assertEquals(new ConfigLoader.Setting("hypervisor.qemu.default_vcpus", "1", false), s.get("hypervisor.qemu.default_vcpus"));
        assertEquals(new ConfigLoader.Setting("hypervisor.qemu.path", "/usr/bin/qemu-system-x86_64", false),
                s.get("hypervisor.qemu.path"));
        assertEquals(new ConfigLoader.Setting("runtime.enable_debug", "true", true), s.get("runtime.enable_debug"));
        assertEquals(new ConfigLoader.Setting("agent.kata.dial_timeout", "45", false), s.get("agent.kata.dial_timeout"));
    }
}
