package io.nemu.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.shim.cli.check.CheckContext;
import io.nemu.shim.cli.check.CheckResult;
import io.nemu.shim.cli.check.HostChecks;
import io.nemu.shim.cli.check.HostRoot;
import io.nemu.shim.cli.check.Status;
import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nemu check}: can this host run sandbox VMs? One line per requirement; exit 1 when one fails. */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Check this host against every requirement of the runtime: PASS, WARN (works, at the cost"
                + " stated) or FAIL (sandboxes cannot run; exit status 1), each with what to do.")
public final class CheckCommand implements Callable<Integer> {
    /** containerd's PATH under its systemd unit (it finds shims there and beside its own binary). */
    static final List<String> CONTAINERD_PATH = List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
            "/sbin", "/bin");

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE",
            description = "configuration.toml (default: as the shim finds it: NEMU_CONF_FILE, else the distribution's)")
    Path config;

    @Option(names = "--containerd-config", paramLabel = "FILE", defaultValue = "/etc/containerd/config.toml",
            description = "containerd's config (default: ${DEFAULT-VALUE})")
    Path containerdConfig;

    @Option(names = "--json", description = "Print the results as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<CheckResult> results = HostChecks.run(context(config, containerdConfig, System.getenv()));
        PrintWriter out = spec.commandLine().getOut();
        boolean ok = results.stream().noneMatch(r -> r.status() == Status.FAIL);
        if (json) {
            ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            ObjectNode root = m.createObjectNode().put("ok", ok);
            root.set("checks", m.valueToTree(results));
            out.println(m.writeValueAsString(root));
        } else {
            for (CheckResult r : results) {
                out.printf("%-4s  %-19s %s%n", r.status(), r.name(), r.detail());
                if (r.action() != null) {
                    out.printf("      %-19s -> %s%n", "", r.action());
                }
            }
            out.println(ok ? "nemu check: this host can run sandboxes" : "nemu check: FAIL: sandboxes cannot run here");
        }
        out.flush();
        return ok ? 0 : 1;
    }

    /** The configuration as the shim would load it (a file given here wins), and where containerd finds shims. */
    static CheckContext context(Path file, Path containerdConfig, Map<String, String> env) {
        Path located = null;
        RuntimeConfig loaded = null;
        String error = null;
        try {
            located = file != null ? file : ConfigLoader.locate(null, env);
            loaded = new ConfigLoader(w -> { }).load(located);
        } catch (ConfigException e) {
            error = e.getMessage();
        }
        Set<Path> dirs = new LinkedHashSet<>();
        CONTAINERD_PATH.forEach(d -> dirs.add(Path.of(d)));
        String path = env.getOrDefault("PATH", "");
        for (String d : path.split(":")) {
            if (!d.isBlank()) {
                dirs.add(Path.of(d));
            }
        }
        return new CheckContext(HostRoot.real(), located, loaded, error, containerdConfig, new ArrayList<>(dirs));
    }
}
