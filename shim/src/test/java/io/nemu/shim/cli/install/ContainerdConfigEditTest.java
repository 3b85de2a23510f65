package io.nemu.shim.cli.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nemu.shim.cli.check.ContainerdCheck;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ContainerdConfigEditTest {
    private static final String SNIPPET = """
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nemu]
              runtime_type = "io.containerd.nemu.v2"
              [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nemu.options]
                ConfigPath = "/p/share/defaults/configuration.toml"
            """;
    /** Debian 12's containerd config, without its last newline, with a comment in UTF-8 read as bytes. */
    private static final String DEBIAN = "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
            + "    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n      bin_dir = \"/usr/lib/cni\"  # caf\u00c3\u00a9";

    private static Map<String, String> handlers(String text) throws Exception {
        return ContainerdCheck.nemuHandlers(new TomlMapper().readTree(text));
    }

    @Test
    void removingTheBlockGivesBackTheSameText() throws Exception {
        for (String before : new String[] {DEBIAN, DEBIAN + "\n", "", "# only a comment\n", "version = 2"}) {
            String after = ContainerdConfigEdit.add(before, SNIPPET);
            assertEquals(Map.of("nemu", "/p/share/defaults/configuration.toml"), handlers(after), after);
            assertEquals(after, ContainerdConfigEdit.add(after, SNIPPET), "a second add changes nothing");
            assertEquals(before, ContainerdConfigEdit.remove(after));
        }
    }

    @Test
    void aMissingFileGetsVersionTwoInsideTheBlock() throws Exception {
        String made = ContainerdConfigEdit.add(null, SNIPPET);
        assertTrue(made.contains("version = 2\n[plugins"), made);
        assertEquals("", ContainerdConfigEdit.remove(made));
    }

    @Test
    void anotherSnippetReplacesTheBlock() throws Exception {
        String first = ContainerdConfigEdit.add(DEBIAN, SNIPPET);
        String second = ContainerdConfigEdit.add(first, SNIPPET.replace("/p/", "/q/"));
        assertEquals(Map.of("nemu", "/q/share/defaults/configuration.toml"), handlers(second));
        assertEquals(DEBIAN, ContainerdConfigEdit.remove(second));
    }

    @Test
    void refusesVersionOneAndAHandlerOfItsOwn() {
        InstallException v1 = assertThrows(InstallException.class,
                () -> ContainerdConfigEdit.add("[plugins.cri]\n  x = 1\n", SNIPPET));
        assertTrue(v1.getMessage().contains("not version 2"), v1.getMessage());
        InstallException own = assertThrows(InstallException.class, () -> ContainerdConfigEdit.add("version = 2\n"
                + SNIPPET.replace("/p/", "/mine/"), SNIPPET));
        assertTrue(own.getMessage().contains("already has a runtime nemu"), own.getMessage());
        InstallException bad = assertThrows(InstallException.class, () -> ContainerdConfigEdit.add("version = = 2", SNIPPET));
        assertTrue(bad.getMessage().contains("not valid TOML"), bad.getMessage());
    }
}
