package io.nemu.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.QemuFeatures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code [hypervisor.qemu] seccompsandbox}: Kata's key for QEMU's -sandbox options; empty turns it off. */
class SeccompSandboxConfigTest {
    private static final Path SRC = Path.of("/etc/nemu/configuration.toml");
    private static final String MINIMAL = """
            [hypervisor.qemu]
            kernel = "/g/vmlinux"
            initrd = "/g/initramfs.img"
            """;
    private final List<String> warnings = new ArrayList<>();

    private String seccomp(String line) throws ConfigException {
        return new ConfigLoader(warnings::add).parse(MINIMAL + line + "\n", SRC, SRC.getParent()).hypervisor()
                .seccompSandbox();
    }

    @Test
    void onByDefaultOffOnlyWhenEmptyOptionsAsWritten() throws Exception {
        assertEquals(QemuFeatures.SANDBOX, seccomp(""));
        assertNull(seccomp("seccompsandbox = \"\""), "empty: no sandbox, on purpose");
        assertEquals("on,obsolete=deny,spawn=deny,resourcecontrol=deny",
                seccomp("seccompsandbox = \"on,obsolete=deny,spawn=deny,resourcecontrol=deny\""));
        assertTrue(warnings.isEmpty(), warnings::toString);
    }

    @Test
    void badValuesNameTheKey() {
        for (String bad : List.of("seccompsandbox = \"off\"", "seccompsandbox = \"on -daemonize\"",
                "seccompsandbox = true")) {
            ConfigException e = assertThrows(ConfigException.class, () -> seccomp(bad));
            assertEquals("hypervisor.qemu.seccompsandbox", e.key(), e.getMessage());
            assertTrue(e.getMessage().contains("seccompsandbox"), e.getMessage());
        }
    }
}
