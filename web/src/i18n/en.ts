// English texts. Names marked "contract" are fixed by PHONE_APP.md (acceptance tests and screen
// readers find controls by them): change them only with the contract.
const en = {
  "app.title": "Gatehouse",
  "lang.label": "Language", // contract: "Language / 语言" (both languages name the control)
  "lang.control": "Language / 语言",
  "signIn.title": "Sign in",
  "signIn.username": "Username", // contract
  "signIn.password": "Password", // contract
  "signIn.submit": "Sign in", // contract
  "signIn.failed": "Sign-in failed: {message}",
  "signIn.working": "Signing in…",
  "changePassword.title": "Set a new password",
  "changePassword.why": "Your password was issued by someone else. Choose your own (at least 10 characters) before you go on.",
  "changePassword.new": "New password", // contract
  "changePassword.repeat": "Repeat new password", // contract
  "changePassword.submit": "Save password", // contract
  "changePassword.mismatch": "The two new passwords differ.",
  "changePassword.failed": "The password was not saved: {message}",
  "bind.title": "Your pass",
  "bind.why": "This phone becomes your pass: it makes a key that never leaves it and shows a QR code that changes every {period} seconds.",
  "bind.submit": "Use this phone as my pass", // contract
  "bind.elsewhere": "Your pass is on another phone. Binding this one ends that one.",
  "bind.failed": "This phone could not be bound: {message}",
  "bind.noCrypto": "This browser cannot keep a pass key (WebCrypto Ed25519 is missing). The server signs your pass instead, so it needs the network.",
  "bind.custodial": "Show my pass (signed by the server)",
  "pass.title": "Pass",
  "pass.qr": "Pass QR code", // contract
  "pass.countdown": "Next code in {seconds} s",
  "pass.offline": "Offline: the pass still works.",
  "pass.custodialWaiting": "Waiting for the server's code…",
  "pass.custodialNote": "Signed by the server: needs the network.",
  "pass.error": "The pass cannot be shown: {message}",
  "menu.pass": "Pass",
  "menu.log": "Access log",
  "menu.attendance": "Attendance",
  "menu.signOut": "Sign out",
  "menu.label": "Menu",
  "log.title": "My access log",
  "log.empty": "No passages yet.",
  "log.more": "Show more",
  "log.granted": "Granted",
  "log.refused": "Refused",
  "log.in": "in",
  "log.out": "out",
  "attendance.title": "My attendance",
  "attendance.month": "Month",
  "attendance.empty": "No days in this month.",
  "attendance.day": "Day",
  "attendance.in": "First in",
  "attendance.out": "Last out",
  "attendance.hours": "Time inside",
  "attendance.notes": "Notes",
  "attendance.late": "late",
  "attendance.leftEarly": "left early",
  "attendance.absent": "absent",
  "attendance.missingExit": "no exit",
  "attendance.corrected": "corrected",
  "attendance.dayOff": "day off",
  "common.loading": "Loading…",
  "common.error": "Something went wrong: {message}",
  "common.offline": "You are offline.",
  "coming.title": "Coming soon",
  "coming.invite": "Visitor registration for invitation {code} is coming to this page.",
  "coming.guard": "The guard console is coming to this page.",
  "notFound.title": "Nothing here",
  "notFound.back": "Go to the start",
};

export type TextKey = keyof typeof en;
export default en;
