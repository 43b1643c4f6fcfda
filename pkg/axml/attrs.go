package axml

import "fmt"

// NSAndroid is the namespace URI of the framework's android: attributes.
const NSAndroid = "http://schemas.android.com/apk/res/android"

// ResID is an Android resource identifier, 0xPPTTEEEE (package, type, entry).
type ResID uint32

// String formats the ID as aapt does, 0x%08x.
func (id ResID) String() string { return fmt.Sprintf("0x%08x", uint32(id)) }

// Framework attribute IDs (package 0x01, type attr) used by this module, as
// published by framework-res.apk; attrs_test.go checks each one against
// `aapt dump resources framework-res.apk`.
const (
	AttrTheme                     ResID = 0x01010000
	AttrLabel                     ResID = 0x01010001
	AttrIcon                      ResID = 0x01010002
	AttrName                      ResID = 0x01010003
	AttrPermission                ResID = 0x01010006
	AttrReadPermission            ResID = 0x01010007
	AttrWritePermission           ResID = 0x01010008
	AttrHasCode                   ResID = 0x0101000c
	AttrEnabled                   ResID = 0x0101000e
	AttrDebuggable                ResID = 0x0101000f
	AttrExported                  ResID = 0x01010010
	AttrProcess                   ResID = 0x01010011
	AttrMultiprocess              ResID = 0x01010013
	AttrAuthorities               ResID = 0x01010018
	AttrSyncable                  ResID = 0x01010019
	AttrInitOrder                 ResID = 0x0101001a
	AttrGrantURIPermissions       ResID = 0x0101001b
	AttrValue                     ResID = 0x01010024
	AttrResource                  ResID = 0x01010025
	AttrMinSdkVersion             ResID = 0x0101020c
	AttrVersionCode               ResID = 0x0101021b
	AttrVersionName               ResID = 0x0101021c
	AttrTargetSdkVersion          ResID = 0x01010270
	AttrMaxSdkVersion             ResID = 0x01010271
	AttrAllowBackup               ResID = 0x01010280
	AttrRequired                  ResID = 0x0101028e
	AttrExtractNativeLibs         ResID = 0x010104ea
	AttrUsesCleartextTraffic      ResID = 0x010104ec
	AttrDirectBootAware           ResID = 0x01010505
	AttrNetworkSecurityConfig     ResID = 0x01010527
	AttrTargetSandboxVersion      ResID = 0x0101054c
	AttrCompileSdkVersion         ResID = 0x01010572
	AttrCompileSdkVersionCodename ResID = 0x01010573
	AttrAppComponentFactory       ResID = 0x0101057a
)

// FrameworkAttr names one framework attribute: android:Name has ID ID.
type FrameworkAttr struct {
	Name string
	ID   ResID
}

// FrameworkAttrs returns the table of the framework attributes above, in ID
// order.
func FrameworkAttrs() []FrameworkAttr {
	return []FrameworkAttr{
		{"theme", AttrTheme},
		{"label", AttrLabel},
		{"icon", AttrIcon},
		{"name", AttrName},
		{"permission", AttrPermission},
		{"readPermission", AttrReadPermission},
		{"writePermission", AttrWritePermission},
		{"hasCode", AttrHasCode},
		{"enabled", AttrEnabled},
		{"debuggable", AttrDebuggable},
		{"exported", AttrExported},
		{"process", AttrProcess},
		{"multiprocess", AttrMultiprocess},
		{"authorities", AttrAuthorities},
		{"syncable", AttrSyncable},
		{"initOrder", AttrInitOrder},
		{"grantUriPermissions", AttrGrantURIPermissions},
		{"value", AttrValue},
		{"resource", AttrResource},
		{"minSdkVersion", AttrMinSdkVersion},
		{"versionCode", AttrVersionCode},
		{"versionName", AttrVersionName},
		{"targetSdkVersion", AttrTargetSdkVersion},
		{"maxSdkVersion", AttrMaxSdkVersion},
		{"allowBackup", AttrAllowBackup},
		{"required", AttrRequired},
		{"extractNativeLibs", AttrExtractNativeLibs},
		{"usesCleartextTraffic", AttrUsesCleartextTraffic},
		{"directBootAware", AttrDirectBootAware},
		{"networkSecurityConfig", AttrNetworkSecurityConfig},
		{"targetSandboxVersion", AttrTargetSandboxVersion},
		{"compileSdkVersion", AttrCompileSdkVersion},
		{"compileSdkVersionCodename", AttrCompileSdkVersionCodename},
		{"appComponentFactory", AttrAppComponentFactory},
	}
}

// frameworkAttrName returns the attribute name of a framework attribute ID
// listed in FrameworkAttrs.
func frameworkAttrName(id ResID) (string, bool) {
	for _, a := range FrameworkAttrs() {
		if a.ID == id {
			return a.Name, true
		}
	}
	return "", false
}
