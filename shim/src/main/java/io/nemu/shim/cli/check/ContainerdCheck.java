package io.nemu.shim.cli.check;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * containerd: its version, whether its config names our runtime for CRI, and whether it finds our shim binary
 * (containerd runs {@code containerd-shim-nemu-v2} from its PATH for runtime {@code io.containerd.nemu.v2}).
 */
public final class ContainerdCheck {
    static final String RUNTIME_TYPE = "io.containerd.nemu.v2";
    static final String SHIM_BINARY = "containerd-shim-nemu-v2";

    private ContainerdCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        List<CheckResult> out = new ArrayList<>();
        Optional<Path> containerd = onPath(c.shimDirs(), "containerd");
        if (containerd.isEmpty()) {
            out.add(CheckResult.fail("containerd", "containerd not found in " + c.shimDirs(),
                    "apt-get install containerd"));
        } else {
            String v = HostRoot.firstLine(List.of(containerd.get().toString(), "--version"));
            Optional<String> version = QemuCheck.version("version " + (v.split(" ").length > 2 ? v.split(" ")[2] : ""));
            if (version.isPresent() && QemuCheck.olderThan(version.get(), 1, 6)) {
                out.add(CheckResult.fail("containerd", v, "containerd 1.6 or later is needed (shim v2 over ttrpc)"));
            } else {
                out.add(CheckResult.pass("containerd", v));
            }
        }
        out.add(config(c.containerdConfig()));
        Optional<Path> shim = onPath(c.shimDirs(), SHIM_BINARY);
        out.add(shim.isPresent() ? CheckResult.pass("shim on PATH", shim.get() + real(shim.get()))
                : CheckResult.warn("shim on PATH", SHIM_BINARY + " is in none of " + c.shimDirs(),
                "`nemu install` links it into /usr/local/bin (or put the distribution's bin/ on containerd's PATH)"));
        return out;
    }

    /** The CRI handlers of a containerd config that run our runtime, by name, with their ConfigPath (or ""). */
    public static Map<String, String> nemuHandlers(JsonNode root) {
        Map<String, String> out = new java.util.TreeMap<>();
        JsonNode plugins = root.path("plugins");
        for (JsonNode cri : List.of(plugins.path("io.containerd.grpc.v1.cri"), plugins.path("cri"))) {
            JsonNode runtimes = cri.path("containerd").path("runtimes");
            for (Iterator<Map.Entry<String, JsonNode>> it = runtimes.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (RUNTIME_TYPE.equals(e.getValue().path("runtime_type").asText())) {
                    out.put(e.getKey(), e.getValue().path("options").path("ConfigPath").asText(""));
                }
            }
        }
        return out;
    }

    private static CheckResult config(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            return CheckResult.warn("containerd config", file + " does not exist: containerd has no CRI handler for"
                    + " nemu (ctr run --runtime " + RUNTIME_TYPE + " still works)", "`nemu install` writes it");
        } catch (IOException e) {
            return CheckResult.warn("containerd config", "cannot read " + file + ": " + e.getMessage(), null);
        }
        JsonNode root;
        try {
            root = new TomlMapper().readTree(text);
        } catch (JacksonException e) {
            return CheckResult.fail("containerd config", file + " is not valid TOML: " + e.getOriginalMessage(),
                    "fix it: containerd will not start with it");
        }
        Map<String, String> handlers = root == null ? Map.of() : nemuHandlers(root);
        if (handlers.isEmpty()) {
            return CheckResult.warn("containerd config", file + " names no CRI handler for " + RUNTIME_TYPE
                    + " (Kubernetes pods cannot ask for it)", "`nemu install` adds handler nemu (then restart containerd)");
        }
        StringBuilder d = new StringBuilder(file + ": CRI handler");
        handlers.forEach((name, cfg) -> d.append(' ').append(name).append(cfg.isEmpty() ? "" : " (ConfigPath " + cfg + ")"));
        return CheckResult.pass("containerd config", d.toString());
    }

    private static String real(Path p) {
        try {
            Path r = p.toRealPath();
            return r.equals(p) ? "" : " -> " + r;
        } catch (IOException e) {
            return "";
        }
    }

    static Optional<Path> onPath(List<Path> dirs, String name) {
        return dirs.stream().map(d -> d.resolve(name)).filter(p -> Files.isRegularFile(p) && Files.isExecutable(p))
                .findFirst();
    }
}
