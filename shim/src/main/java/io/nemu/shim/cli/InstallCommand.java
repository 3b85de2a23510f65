package io.nemu.shim.cli;

import io.nemu.shim.cli.install.InstallException;
import io.nemu.shim.cli.install.Installation;
import io.nemu.shim.config.ConfigLoader;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nemu install}: this distribution into the prefix, its shim onto containerd's PATH, its runtime into containerd's config. */
@Command(name = "install", mixinStandardHelpOptions = true,
        description = "Install this distribution: copy it to the prefix, link containerd-shim-nemu-v2 and nemu into"
                + " containerd's PATH, add the runtime (CRI handler nemu) to containerd's config, keeping a backup."
                + " Safe to run again; says what it changed.")
public final class InstallCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--prefix", paramLabel = "DIR", defaultValue = "/opt/nemu", description = "Where (default: ${DEFAULT-VALUE}).")
    Path prefix;

    @Option(names = "--bin-dir", paramLabel = "DIR", defaultValue = "/usr/local/bin",
            description = "A folder on containerd's PATH for the links (default: ${DEFAULT-VALUE}).")
    Path binDir;

    @Option(names = "--containerd-config", paramLabel = "FILE", defaultValue = "/etc/containerd/config.toml",
            description = "containerd's config (default: ${DEFAULT-VALUE}).")
    Path containerdConfig;

    @Option(names = "--from", paramLabel = "DIR", description = "The distribution to install (default: this one, $NEMU_HOME).")
    Path from;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        String home = System.getenv(ConfigLoader.ENV_HOME);
        if (from == null && (home == null || home.isBlank())) {
            spec.commandLine().getErr().println("nemu install: run it from the distribution's bin/nemu, or give --from");
            return 2;
        }
        try {
            new Installation(line -> {
                out.println(line);
                out.flush();
            }).install(new Installation.Target(from != null ? from : Path.of(home), prefix, binDir, containerdConfig));
            out.println("nemu install: done; `" + prefix.resolve("bin/nemu") + " check` tells whether this host can run sandboxes");
            return 0;
        } catch (InstallException e) {
            spec.commandLine().getErr().println("nemu install: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }
}
