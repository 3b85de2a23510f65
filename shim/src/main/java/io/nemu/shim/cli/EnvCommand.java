package io.nemu.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.firmware.FirmwareException;
import io.nemu.firmware.Manifest;
import io.nemu.shim.cli.check.HostRoot;
import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.sandbox.PodSizing;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code nemu env}: the configuration the shim would use, each key with where its value came from, and the
 * version of every component. One JSON tree, printed as text or as it is ({@code --json}).
 */
@Command(name = "env", mixinStandardHelpOptions = true,
        description = "Print the effective configuration (each value with its source: file, default, or pod"
                + " annotation where allowed) and the versions of every component.")
public final class EnvCommand implements Callable<Integer> {
    /** Keys a pod annotation may change, when enable_annotations allows them (PodSizing reads them). */
    private static final Map<String, String> ANNOTATED = Map.of(
            "hypervisor.qemu.default_vcpus", PodSizing.KATA_VCPUS, "hypervisor.qemu.default_memory", PodSizing.KATA_MEMORY);

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE",
            description = "configuration.toml (default: as the shim finds it: NEMU_CONF_FILE, else the distribution's)")
    Path config;

    @Option(names = "--json", description = "Print it as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode env = describe(m, config, System.getenv());
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(m.writeValueAsString(env));
        } else {
            ObjectNode c = (ObjectNode) env.get("configuration");
            out.printf("configuration: %s (%s)%n", c.path("file").asText("none"), c.path("located").asText());
            if (c.has("error")) {
                out.printf("  error: %s%n", c.get("error").asText());
            }
            c.path("settings").forEach(s -> out.printf("  %-44s = %-28s %s%n", s.get("key").asText(),
                    s.get("value").asText(), s.get("source").asText()));
            out.println("versions:");
            env.get("versions").fields().forEachRemaining(e -> out.printf("  %-12s %s%n", e.getKey(), e.getValue().asText()));
        }
        out.flush();
        return env.path("configuration").has("error") ? 1 : 0;
    }

    static ObjectNode describe(ObjectMapper m, Path file, Map<String, String> env) {
        ObjectNode root = m.createObjectNode();
        ObjectNode c = root.putObject("configuration");
        RuntimeConfig cfg = null;
        ConfigLoader loader = new ConfigLoader(w -> { });
        try {
            Path located = file != null ? file : ConfigLoader.locate(null, env);
            c.put("file", located.toString());
            c.put("located", file != null ? "--config" : env.containsKey(ConfigLoader.ENV_CONF_FILE)
                    && !env.get(ConfigLoader.ENV_CONF_FILE).isBlank() ? ConfigLoader.ENV_CONF_FILE
                    : "the distribution's default ($" + ConfigLoader.ENV_HOME + "/" + ConfigLoader.DEFAULT_RELATIVE + ")");
            cfg = loader.load(located);
        } catch (ConfigException e) {
            c.put("error", e.getMessage());
        }
        ArrayNode settings = c.putArray("settings");
        for (ConfigLoader.Setting s : cfg == null ? List.<ConfigLoader.Setting>of() : loader.settings()) {
            String source = s.fromFile() ? "file" : "default";
            String annotation = ANNOTATED.get(s.key());
            if (annotation != null && cfg.hypervisor().annotationEnabled(annotation.substring(PodSizing.KATA_PREFIX.length()))) {
                source += ", per pod: annotation " + annotation;
            }
            settings.addObject().put("key", s.key()).put("value", s.value()).put("source", source);
        }
        ObjectNode v = root.putObject("versions");
        String shim = EnvCommand.class.getPackage().getImplementationVersion();
        v.put("shim", shim == null ? "unknown (not run from the distribution's jar)" : shim);
        v.put("java", System.getProperty("java.vm.name") + " " + Runtime.version() + " (" + System.getProperty("java.home") + ")");
        if (cfg != null) {
            RuntimeConfig.Hypervisor h = cfg.hypervisor();
            v.put("qemu", h.path() + ": " + HostRoot.firstLine(List.of(h.path().toString(), "--version")));
            v.put("virtiofsd", h.virtioFsDaemon() + ": " + HostRoot.firstLine(List.of(h.virtioFsDaemon().toString(), "--version")));
            Path image = h.kernel().toAbsolutePath().getParent();
            try {
                Manifest manifest = Manifest.read(image);
                v.put("guest kernel", manifest.kernelRelease());
                v.put("agent", manifest.input("agent.jar").map(i -> "agent.jar sha256 " + i.sha256().substring(0, 16))
                        .orElse("none in the image") + manifest.input("agent-runtime")
                        .map(i -> ", Java runtime " + i.version()).orElse(""));
                String recipe = String.valueOf(manifest.recipe());
                v.put("image", image + "/" + Manifest.FILE_NAME + ": format " + manifest.formatVersion() + ", recipe "
                        + recipe.substring(0, Math.min(16, recipe.length())) + ", initramfs " + manifest.compression());
            } catch (FirmwareException e) {
                v.put("image", e.getMessage());
            }
        }
        v.put("containerd", HostRoot.firstLine(List.of("containerd", "--version")));
        return root;
    }
}
