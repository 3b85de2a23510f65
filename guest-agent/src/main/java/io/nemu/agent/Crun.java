package io.nemu.agent;

import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Spawner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** crun's command line, with its own state root and a log file per bundle for error texts. */
final class Crun {

    private final String binary;
    private final Path root;

    Crun(String binary, Path root) {
        this.binary = binary;
        this.root = root;
    }

    List<String> command(Path log, String... args) {
        List<String> c = new ArrayList<>(List.of(binary, "--root", root.toString()));
        if (log != null) {
            c.add("--log=" + log);
        }
        c.addAll(List.of(args));
        return c;
    }

    /** Runs a short crun command; failure becomes INTERNAL with crun's own words. */
    void run(Path log, String... args) {
        Spawner.Result r;
        try {
            r = Spawner.get().run(command(log, args), 60);
        } catch (IOException e) {
            throw AgentException.internal("crun " + args[0] + ": " + e.getMessage(), e);
        }
        if (!r.ok()) {
            throw AgentException.internal("crun " + String.join(" ", args) + " failed (" + r.status() + "): "
                    + errorText(r.stderr(), log), null);
        }
    }

    Spawner.Child start(Path log, List<String> args, Fd in, Fd out, Fd err) throws IOException {
        return Spawner.get().spawn(command(log, args.toArray(new String[0])), in, out, err);
    }

    /** What crun said: its stderr, else the tail of its log. */
    static String errorText(String stderr, Path log) {
        String s = stderr == null ? "" : stderr.trim();
        if (s.isEmpty() && log != null) {
            try {
                List<String> lines = Files.readAllLines(log);
                s = String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size())).trim();
            } catch (IOException ignored) {
                // no log: nothing more to say
            }
        }
        return s.isEmpty() ? "no error text" : s;
    }
}
