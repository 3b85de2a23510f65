package io.nemu.shim.cli;

import io.nemu.shim.cli.install.InstallException;
import io.nemu.shim.cli.install.Installation;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nemu uninstall}: undoes what {@code nemu install} recorded in the prefix; containerd's config comes back byte for byte. */
@Command(name = "uninstall", mixinStandardHelpOptions = true,
        description = "Undo `nemu install`: containerd's config back as it was (byte for byte from the backup), the"
                + " links removed, the copied distribution deleted.")
public final class UninstallCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--prefix", paramLabel = "DIR", defaultValue = "/opt/nemu", description = "The install's prefix (default: ${DEFAULT-VALUE}).")
    Path prefix;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try {
            new Installation(line -> {
                out.println(line);
                out.flush();
            }).uninstall(prefix);
            out.println("nemu uninstall: done");
            return 0;
        } catch (InstallException e) {
            spec.commandLine().getErr().println("nemu uninstall: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }
}
