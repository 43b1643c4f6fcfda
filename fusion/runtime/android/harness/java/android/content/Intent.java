package android.content;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Stand-in for android.content.Intent: action, target package and String extras. */
public class Intent {
    private final String action;
    private String pkg;
    private final Map<String, String> extras = new LinkedHashMap<>();

    public Intent(String action) {
        this.action = action;
    }

    public Intent setPackage(String packageName) {
        this.pkg = packageName;
        return this;
    }

    public Intent putExtra(String name, String value) {
        extras.put(name, value);
        return this;
    }

    public String getAction() {
        return action;
    }

    public String getPackage() {
        return pkg;
    }

    public String getStringExtra(String name) {
        return extras.get(name);
    }

    /** Harness only: every String extra, in insertion order. */
    public Map<String, String> stringExtras() {
        return Collections.unmodifiableMap(extras);
    }
}
