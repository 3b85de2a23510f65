package io.nemu.shim.cli;

import io.nemu.contract.DebugConsole;
import io.nemu.shim.sandbox.DebugConsoleClient;
import io.nemu.shim.sandbox.HostSandbox;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Stack;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code nemu exec SANDBOX [COMMAND [ARG...]]}: a command (a shell by default) in the sandbox's VM, not in a
 * container, for debugging; through the guest agent's debug console, which only a sandbox started with
 * {@code [agent.kata] debug_console_enabled = true} serves. Root only. Exit status: the command's; 1 when it could
 * not run.
 */
@Command(name = "exec", mixinStandardHelpOptions = true,
        description = "Run a command (default: a shell) inside a sandbox's VM, not in a container, for debugging."
                + " Needs root and a sandbox started with debug_console_enabled = true under [agent.kata].",
        footer = "SANDBOX is an id from `nemu ps`, or a unique start of one. Everything after it is the command.")
final class ExecCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-t", "--tty"}, negatable = true,
            description = "A terminal in the VM (default: when stdin and stdout are terminals); --no-tty: pipes.")
    Boolean tty;

    @Parameters(index = "0", paramLabel = "SANDBOX")
    String sandbox;

    @Parameters(index = "1..*", paramLabel = "COMMAND", parameterConsumer = Rest.class,
            description = "The command and its arguments, taken as they are (options included).")
    List<String> command = new ArrayList<>();

    /** Takes every remaining word, so that {@code nemu exec ID uname -r} passes -r to uname. */
    static final class Rest implements CommandLine.IParameterConsumer {
        @Override
        public void consumeParameters(Stack<String> args, ArgSpec argSpec, CommandSpec commandSpec) {
            List<String> rest = argSpec.getValue();
            while (!args.isEmpty()) {
                rest.add(args.pop());
            }
        }
    }

    @Override
    public Integer call() {
        var err = spec.commandLine().getErr();
        if (!root()) {
            err.println("nemu exec: needs root (a sandbox's sockets are root's alone)");
            return 1;
        }
        try {
            HostSandbox s = HostSandbox.find(SandboxPaths.defaultRoot(), sandbox);
            String refused = DebugConsoleClient.refusal(s);
            if (refused != null) {
                err.println("nemu exec: " + refused);
                return 1;
            }
            boolean terminal = tty != null ? tty : HostTerminal.attached();
            int[] size = terminal ? HostTerminal.size() : new int[] {0, 0};
            String term = System.getenv().getOrDefault("TERM", "");
            DebugConsole.Request req = new DebugConsole.Request(terminal, size[0], size[1], term, command);
            FileInputStream in = new FileInputStream(FileDescriptor.in);
            FileOutputStream out = new FileOutputStream(FileDescriptor.out);
            FileOutputStream errOut = new FileOutputStream(FileDescriptor.err);
            if (terminal && HostTerminal.attached()) {
                try (HostTerminal raw = HostTerminal.raw()) {
                    return DebugConsoleClient.run(s, req, in, out, errOut);
                }
            }
            return DebugConsoleClient.run(s, req, in, out, errOut);
        } catch (IllegalArgumentException | IOException e) {
            err.println("nemu exec: " + e.getMessage());
            return 1;
        }
    }

    /** Effective uid 0, from /proc (the JDK has no getuid). */
    static boolean root() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0");
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }
}
