package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.nemu.e2e.support.CriEnv;
import io.nemu.firmware.GuestPaths;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The containerd snippet, the RuntimeClass manifest and the configuration.toml that packaging ships: all
 * parse, the snippet declares handler nemu with our runtime type and a ConfigPath, the RuntimeClass names
 * that handler with a pod overhead, and the shim takes the configuration without a warning.
 */
class PackagingSnippetsTest {
    private static final Path SHARE = GuestPaths.repoRoot(Path.of("").toAbsolutePath())
            .orElseThrow(() -> new IllegalStateException("not inside the source checkout"))
            .resolve("packaging/src/main/dist/share");

    static JsonNode nemuRuntime(String toml) throws IOException {
        JsonNode root = new TomlMapper().readTree(toml);
        return root.path("plugins").path("io.containerd.grpc.v1.cri").path("containerd").path("runtimes").path("nemu");
    }

    @Test
    void containerdSnippetDeclaresTheNemuHandler() throws IOException {
        JsonNode nemu = nemuRuntime(Files.readString(SHARE.resolve("containerd/containerd-nemu.toml")));
        assertTrue(nemu.isObject(), "no runtimes.nemu table in the snippet");
        assertEquals("io.containerd.nemu.v2", nemu.path("runtime_type").asText());
        assertEquals("/opt/nemu/share/defaults/configuration.toml", nemu.path("options").path("ConfigPath").asText());
        assertEquals("io.katacontainers.*", nemu.path("pod_annotations").path(0).asText());
    }

    @Test
    void testsSwapOnlyTheConfigPath() throws IOException {
        String shipped = Files.readString(SHARE.resolve("containerd/containerd-nemu.toml"));
        String tested = CriEnv.snippetWithConfigPath(shipped, Path.of("/tmp/x/configuration.toml"));
        JsonNode a = nemuRuntime(shipped);
        JsonNode b = nemuRuntime(tested);
        assertEquals("/tmp/x/configuration.toml", b.path("options").path("ConfigPath").asText());
        ((com.fasterxml.jackson.databind.node.ObjectNode) b.path("options")).put("ConfigPath",
                a.path("options").path("ConfigPath").asText());
        assertEquals(a, b);
    }

    @Test
    void runtimeClassNamesTheHandlerWithAnOverhead() throws IOException {
        String yaml = Files.readString(SHARE.resolve("kubernetes/runtimeclass.yaml"));
        JsonNode rc = new YAMLMapper().readTree(yaml);
        assertEquals("node.k8s.io/v1", rc.path("apiVersion").asText());
        assertEquals("RuntimeClass", rc.path("kind").asText());
        JsonNode handlers = new TomlMapper().readTree(Files.readString(SHARE.resolve("containerd/containerd-nemu.toml")))
                .path("plugins").path("io.containerd.grpc.v1.cri").path("containerd").path("runtimes");
        assertTrue(handlers.has(rc.path("handler").asText()), "RuntimeClass handler " + rc.path("handler")
                + " is not a runtime of the containerd snippet: " + handlers.fieldNames().next());
        String memory = rc.path("overhead").path("podFixed").path("memory").asText();
        String cpu = rc.path("overhead").path("podFixed").path("cpu").asText();
        assertTrue(memory.matches("[1-9]\\d*Mi"), "overhead.podFixed.memory: " + memory);
        assertTrue(cpu.matches("[1-9]\\d*m"), "overhead.podFixed.cpu: " + cpu);
        // The figure must say where it comes from.
        Matcher m = Pattern.compile("(?m)^\\s*#.*measured.*$", Pattern.CASE_INSENSITIVE).matcher(yaml);
        assertTrue(m.find(), "runtimeclass.yaml must say where its overhead comes from");
    }

    @Test
    void shippedConfigurationLoadsWithoutWarnings() throws Exception {
        List<String> warnings = new ArrayList<>();
        RuntimeConfig c = new ConfigLoader(warnings::add).load(SHARE.resolve("defaults/configuration.toml"));
        assertEquals(List.of(), warnings);
        assertEquals(false, c.debug(), "debug logs are off as shipped");
        assertEquals(SHARE.resolve("guest/vmlinux").normalize(), c.hypervisor().kernel());
        assertEquals(SHARE.resolve("guest/root.img").normalize(), c.hypervisor().image(), "the shared root image as shipped");
        assertEquals(null, c.hypervisor().initrd());
    }
}
