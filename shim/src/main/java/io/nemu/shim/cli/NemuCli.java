package io.nemu.shim.cli;

import io.nemu.firmware.cli.ImageCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code nemu}: the administration command (guest image, configuration check; install and more later). */
@Command(name = "nemu", mixinStandardHelpOptions = true, version = "nemu 0.1.0",
        description = "NEMU: a containerd runtime that runs each pod in its own lightweight VM.",
        subcommands = {ImageCommand.class, ConfigCommand.class, CheckCommand.class, EnvCommand.class,
                InstallCommand.class, UninstallCommand.class, PsCommand.class, ExecCommand.class,
                DirectVolumeCommand.class, TemplateCommand.class,
                CommandLine.HelpCommand.class})
public final class NemuCli {

    public static void main(String[] args) {
        System.exit(new CommandLine(new NemuCli()).execute(args));
    }
}
