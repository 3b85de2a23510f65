package io.nemu.e2e.support;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Templating switched on in a configuration: the shipped one (a [factory] table with its keys) and a minimal one. */
class CriEnvTest {
    private static final Path TEMPLATES = Path.of("/tmp/t");

    @Test
    void theShippedFactoryTableGetsItsKeysSetAndTheOtherTablesAreLeftAlone() {
        String toml = "[hypervisor.qemu]\nenable_template = false\n\n[factory]\n# the switch\nenable_template = false\n"
                + "# template_path = \"/run/x\"\nclone_tcg_tb_size = 24\n\n[runtime]\nx = 1\n";
        assertEquals("[hypervisor.qemu]\nenable_template = false\n\n[factory]\ntemplate_path = \"/tmp/t\"\n"
                + "# the switch\nenable_template = true\n# template_path = \"/run/x\"\nclone_tcg_tb_size = 24\n\n"
                + "[runtime]\nx = 1\n", CriEnv.withTemplates(toml, TEMPLATES));
    }

    @Test
    void aConfigurationWithoutTheTableGetsOne() {
        assertEquals("[runtime]\nx = 1\n\n[factory]\nenable_template = true\ntemplate_path = \"/tmp/t\"\n",
                CriEnv.withTemplates("[runtime]\nx = 1\n", TEMPLATES));
    }
}
